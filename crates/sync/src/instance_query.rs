//! The instance query of an edge: which collections sync, and which of their documents.
//!
//! It is a document mapping keys to queries, as Atlas Edge Server's instance query:
//!
//! ```json
//! { "shop.orders": "store_id == 42", "inventory": {"store_id": 42}, "*": "TRUEPREDICATE" }
//! ```
//!
//! A key is `"database.collection"` (the database name ends at the first dot; collection names
//! may contain dots), a bare `"collection"` in the edge's default database, or `"*"` for every
//! collection. A value is a Realm Query Language string ([`crate::rql`]) or a MongoDB filter
//! document. For a namespace the most specific key wins: `database.collection`, then the bare
//! collection name (only in the default database), then `*`. A namespace no key covers is not
//! synced: its data stays local. Internal namespaces (the `admin`, `local` and `config`
//! databases and `system.*` collections) never sync, even under `*`.
//!
//! The value `{"$ingest": true}` makes the collection an ingest collection (Device Sync's
//! Data Ingest, "asymmetric sync"): the documents inserted into it at the edge upload to the
//! hub; its updates and deletes stay local, and the hub never sends it to the edge.
//!
//! Every query is compiled and checked with `outpost_storage::query::filter::Filter::parse`
//! when the instance query is parsed, so a bad query is refused when it is set, not when the
//! first document is uploaded.

use bson::{Bson, Document};
use outpost_storage::query::filter::Filter;

use crate::error::{Error, Result};
use crate::rql;

/// The prefix of the collections holding time-series buckets (as in the storage crate).
const BUCKETS_PREFIX: &str = "system.buckets.";

/// Databases whose contents are the server's own, never user data to sync.
const INTERNAL_DATABASES: [&str; 3] = ["admin", "local", "config"];

/// The parsed instance query of one edge.
#[derive(Debug, Clone)]
pub struct InstanceQuery {
    default_database: String,
    /// In the order of the source document, so that [`InstanceQuery::to_document`] gives it
    /// back unchanged.
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The key as written.
    key: String,
    scope: Scope,
    /// The query as written: an RQL string or a filter document.
    source: Bson,
    /// The MongoDB filter the query means (matches everything in an ingest collection).
    filter: Filter,
    /// `{"$ingest": true}`: the collection's inserts upload to the hub, nothing else syncs.
    ingest: bool,
}

/// What a key covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Namespace {
        database: String,
        collection: String,
    },
    CollectionInDefaultDatabase(String),
    Everything,
}

/// Whether a document of a namespace is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryMatch {
    /// No key of the instance query covers the namespace: the collection is local-only.
    NotSynced,
    /// The namespace is synced and the document matches its query.
    Matches,
    /// The namespace is synced but the document does not match its query.
    DoesNotMatch,
}

impl InstanceQuery {
    /// Parses an instance query document for an edge whose default database is
    /// `default_database` (where bare collection keys live).
    pub fn parse(query: &Document, default_database: &str) -> Result<InstanceQuery> {
        validate_database_name(default_database).map_err(|message| {
            Error::InvalidInstanceQuery(format!("default database: {message}"))
        })?;
        let mut entries = Vec::with_capacity(query.len());
        for (key, value) in query {
            let scope = parse_key(key, default_database)?;
            let in_query_for = |source: Error| Error::InQueryFor {
                key: key.clone(),
                source: Box::new(source),
            };
            let ingest = is_ingest_marker(key, value)?;
            let filter_document = match value {
                Bson::String(text) => rql::compile(text).map_err(in_query_for)?,
                Bson::Document(_) if ingest => Document::new(),
                Bson::Document(filter) => filter.clone(),
                other => {
                    return Err(Error::InvalidInstanceQuery(format!(
                        "the query for '{key}' must be a Realm Query Language string or a \
                         filter document, not {}",
                        outpost_storage::value::compare::type_name(other)
                    )))
                }
            };
            let filter = Filter::parse(&filter_document)
                .map_err(|error| in_query_for(Error::Storage(error)))?;
            entries.push(Entry {
                key: key.clone(),
                scope,
                source: value.clone(),
                filter,
                ingest,
            });
        }
        Ok(InstanceQuery {
            default_database: default_database.to_string(),
            entries,
        })
    }

    /// An instance query that syncs every collection entirely: `{"*": "TRUEPREDICATE"}`.
    pub fn everything(default_database: &str) -> Result<InstanceQuery> {
        let mut query = Document::new();
        query.insert("*", "TRUEPREDICATE");
        InstanceQuery::parse(&query, default_database)
    }

    /// The database bare collection keys refer to.
    pub fn default_database(&self) -> &str {
        &self.default_database
    }

    /// The instance query as given, for storage and transport; parsing it again with the same
    /// default database gives the same instance query.
    pub fn to_document(&self) -> Document {
        self.entries
            .iter()
            .map(|entry| (entry.key.clone(), entry.source.clone()))
            .collect()
    }

    fn entry_for(&self, database: &str, collection: &str) -> Option<&Entry> {
        if is_internal_namespace(database, collection) {
            return None;
        }
        let exact = self.entries.iter().find(|entry| {
            matches!(&entry.scope, Scope::Namespace { database: d, collection: c }
                if d == database && c == collection)
        });
        let bare = || {
            self.entries.iter().find(|entry| {
                database == self.default_database
                    && matches!(&entry.scope, Scope::CollectionInDefaultDatabase(c) if c == collection)
            })
        };
        let everything = || {
            self.entries
                .iter()
                .find(|entry| entry.scope == Scope::Everything)
        };
        exact.or_else(bare).or_else(everything)
    }

    /// The MongoDB filter documents of `database.collection` must match to sync, or `None` when
    /// the collection is not synced (local-only).
    pub fn filter_for(&self, database: &str, collection: &str) -> Option<&Document> {
        self.entry_for(database, collection)
            .map(|entry| entry.filter.source())
    }

    /// Whether `database.collection` is synced at all.
    pub fn is_synced(&self, database: &str, collection: &str) -> bool {
        self.entry_for(database, collection).is_some()
    }

    /// Whether `database.collection` is an ingest collection (`{"$ingest": true}`): its
    /// inserts upload to the hub, its updates and deletes stay local, and the hub never sends
    /// it back.
    pub fn is_ingest(&self, database: &str, collection: &str) -> bool {
        self.entry_for(database, collection)
            .is_some_and(|entry| entry.ingest)
    }

    /// The time-series collection whose buckets `database.collection` holds, when it is a
    /// buckets collection (`system.buckets.<coll>`) and the query syncs `<coll>`: its buckets
    /// upload one way, as an ingest collection's documents (whatever the query's filter).
    pub fn synced_buckets_of<'a>(&self, database: &str, collection: &'a str) -> Option<&'a str> {
        let timeseries = collection.strip_prefix(BUCKETS_PREFIX)?;
        (!timeseries.is_empty() && self.is_synced(database, timeseries)).then_some(timeseries)
    }

    /// Whether `database.collection` syncs one way, edge to hub: an ingest collection or the
    /// buckets of a synced time-series collection.
    pub fn is_one_way(&self, database: &str, collection: &str) -> bool {
        self.is_ingest(database, collection)
            || self.synced_buckets_of(database, collection).is_some()
    }

    /// Whether `doc` of `database.collection` is synced. An error is a filter that failed to
    /// evaluate (only `$expr` can), which the caller should log and count as a skip.
    pub fn matches(&self, database: &str, collection: &str, doc: &Document) -> Result<QueryMatch> {
        let Some(entry) = self.entry_for(database, collection) else {
            return Ok(QueryMatch::NotSynced);
        };
        let details = entry.filter.try_matches_details(doc)?;
        Ok(if details.matched {
            QueryMatch::Matches
        } else {
            QueryMatch::DoesNotMatch
        })
    }
}

/// Outpost's own bookkeeping (the hub's edge registry, sync metadata) lives in databases with
/// this prefix; they never sync.
pub const OUTPOST_DATABASE_PREFIX: &str = "__outpost";

/// Whether `database.collection` is the server's own (never synced, even under `*`).
pub fn is_internal_namespace(database: &str, collection: &str) -> bool {
    INTERNAL_DATABASES.contains(&database)
        || database.starts_with(OUTPOST_DATABASE_PREFIX)
        || collection.starts_with("system.")
}

/// Whether the query for `key` is the ingest marker `{"$ingest": true}`; any other document
/// with `$ingest` is refused (an ingest collection uploads every document it gets).
fn is_ingest_marker(key: &str, value: &Bson) -> Result<bool> {
    let Bson::Document(query) = value else {
        return Ok(false);
    };
    match query.get("$ingest") {
        None => Ok(false),
        Some(Bson::Boolean(true)) if query.len() == 1 => Ok(true),
        Some(Bson::Boolean(true)) => Err(Error::InvalidInstanceQuery(format!(
            "the query for '{key}': {{\"$ingest\": true}} takes no other field (an ingest \
             collection uploads every document inserted into it)"
        ))),
        Some(other) => Err(Error::InvalidInstanceQuery(format!(
            "the query for '{key}': '$ingest' must be true, not {other} (leave it out for a \
             collection that syncs both ways)"
        ))),
    }
}

fn parse_key(key: &str, default_database: &str) -> Result<Scope> {
    let invalid = |message: String| Error::InvalidInstanceQuery(format!("key '{key}': {message}"));
    if key == "*" {
        return Ok(Scope::Everything);
    }
    let (database, collection) = match key.split_once('.') {
        Some((database, collection)) => {
            validate_database_name(database).map_err(invalid)?;
            (Some(database), collection)
        }
        None => (None, key),
    };
    if collection == "*" {
        return Err(invalid(
            "a per-database wildcard ('database.*') is not supported; use '*' or name the \
             collection"
                .to_string(),
        ));
    }
    validate_collection_name(collection).map_err(invalid)?;
    let effective_database = database.unwrap_or(default_database);
    if is_internal_namespace(effective_database, collection) {
        return Err(invalid(format!(
            "{effective_database}.{collection} is an internal namespace and cannot be synced"
        )));
    }
    Ok(match database {
        Some(database) => Scope::Namespace {
            database: database.to_string(),
            collection: collection.to_string(),
        },
        None => Scope::CollectionInDefaultDatabase(collection.to_string()),
    })
}

/// MongoDB's rules for database names: not empty, no `/\. "$*<>:|?` and no NUL, under 64 bytes.
fn validate_database_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the database name is empty".to_string());
    }
    if name.len() >= 64 {
        return Err(format!("database name '{name}' is longer than 63 bytes"));
    }
    if let Some(bad) = name.chars().find(|c| {
        matches!(
            c,
            '/' | '\\' | '.' | ' ' | '"' | '$' | '*' | '<' | '>' | ':' | '|' | '?' | '\0'
        )
    }) {
        return Err(format!(
            "database name '{name}' contains '{}'",
            bad.escape_debug()
        ));
    }
    Ok(())
}

/// MongoDB's rules for collection names: not empty, no `$` and no NUL.
fn validate_collection_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the collection name is empty".to_string());
    }
    if let Some(bad) = name.chars().find(|c| matches!(c, '$' | '\0')) {
        return Err(format!(
            "collection name '{name}' contains '{}'",
            bad.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
