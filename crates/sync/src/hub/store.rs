//! Where the hub keeps its data: [`HubStore`], so that a second backend (a MongoDB replica set
//! reached with the official driver, its change streams feeding downloads) can be added
//! without touching the sync logic. [`SledHubStore`], on Outpost's own storage, is the first.
//!
//! The hub needs: atomic batches over documents, their versions and the registry
//! ([`HubBatch`]); reads of committed documents and versions; the history of its data since a
//! position; and a wait for commits after a position (downloads answer as soon as there is
//! something new).

use std::time::Duration;

use bson::{Bson, Document};
use outpost_storage::value::keyenc;
use outpost_storage::{
    parse_expire_after_seconds, FindOptions, HistoryEntry, Origin, RecordTree, RemoteBatch,
    Storage, TimeseriesOptions,
};

use super::admin::EdgeLog;
use super::observations::{MetricsRecord, SledObservations};
use super::records::{DropRecord, EdgeRecord, Version, VersionedUpTo};
use super::schemas::SchemaRecord;
use crate::error::{Error, Result};
use crate::protocol::split_namespace;

/// Reading documents' last-writer-wins versions: from committed state ([`HubStore`]) or as a
/// batch leaves them ([`HubBatch`]).
pub trait Versions {
    fn version(&self, ns: &str, id: &Bson) -> Result<Option<Version>>;
    /// The clock of the namespace's last drop.
    fn dropped(&self, ns: &str) -> Result<Option<DropRecord>>;
}

/// The hub's data and state.
pub trait HubStore: Versions + Send + Sync {
    /// A batch of writes committed atomically; it sees its own staged writes.
    type Batch<'a>: HubBatch
    where
        Self: 'a;

    /// Starts a batch. While it is open, no other write commits (the store's writer lock).
    fn batch(&self) -> Self::Batch<'_>;

    fn edges(&self) -> Result<Vec<EdgeRecord>>;
    fn edge(&self, id: &str) -> Result<Option<EdgeRecord>>;
    /// Stores an edge record on its own, durably before it returns (a registration or a new
    /// key must survive a crash once answered).
    fn put_edge(&self, edge: &EdgeRecord) -> Result<()>;
    fn remove_edge(&self, id: &str) -> Result<()>;

    /// What edges report (see `hub::observations`): the last metrics of an edge, its log
    /// records (appended, the newest `keep` kept; read oldest first), and removing both.
    fn put_metrics(&self, edge: &str, record: &MetricsRecord) -> Result<()>;
    fn metrics(&self, edge: &str) -> Result<Option<MetricsRecord>>;
    fn append_logs(&self, edge: &str, logs: &[EdgeLog], keep: usize) -> Result<()>;
    fn logs(&self, edge: &str) -> Result<Vec<EdgeLog>>;
    fn remove_observations(&self, edge: &str) -> Result<()>;

    /// The collections' schemas (see `hub::schemas`), by namespace.
    fn schema(&self, ns: &str) -> Result<Option<SchemaRecord>>;
    fn put_schema(&self, record: &SchemaRecord) -> Result<()>;
    fn schemas(&self) -> Result<Vec<SchemaRecord>>;

    fn document(&self, ns: &str, id: &Bson) -> Result<Option<Document>>;
    /// The hub history sequence up to which hub-local writes have versions.
    fn versioned_up_to(&self) -> Result<u64>;

    /// Collections (not views, not time-series) by namespace, `database.collection`, in name
    /// order.
    fn namespaces(&self) -> Vec<String>;
    /// The documents of `ns` in `_id` order after `after` (all when `None`).
    fn documents_after<'a>(
        &'a self,
        ns: &str,
        after: Option<&Bson>,
    ) -> Result<Box<dyn Iterator<Item = Result<Document>> + 'a>>;
    /// The `_id`s of the documents of `ns`.
    fn ids(&self, ns: &str) -> Result<Vec<Bson>>;
    /// Makes sure `ns` is a time-series collection with the time-series options of catalog
    /// `options`, creating it when missing. `Err` with the reason when `ns` exists otherwise.
    fn ensure_timeseries(&self, ns: &str, options: &Document) -> Result<()>;

    /// History entries from `seq` on, without their documents (`doc` and `before` are
    /// `None`): the hub reads the current document from the store when it needs it.
    fn history_heads_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<HistoryEntry>> + '_>;
    fn last_seq(&self) -> u64;
    /// Blocks until a change after `seq` commits or `timeout` passes; the last committed seq.
    fn wait_for_commit_after(&self, seq: u64, timeout: Duration) -> u64;
    fn flush(&self) -> Result<()>;
}

/// Writes staged for one atomic commit.
pub trait HubBatch: Versions {
    fn document(&self, ns: &str, id: &Bson) -> Result<Option<Document>>;
    /// Stages storing (`Some`) or deleting (`None`) a document, written by `origin`.
    fn put_document(&mut self, ns: &str, id: &Bson, doc: Option<Document>, origin: &Origin);
    /// The `_id`s of the documents of `ns` this batch writes.
    fn staged_ids(&self, ns: &str) -> Vec<Bson>;
    fn put_version(&mut self, ns: &str, id: &Bson, version: &Version) -> Result<()>;
    fn put_drop(&mut self, ns: &str, drop: &DropRecord) -> Result<()>;
    fn put_edge(&mut self, edge: &EdgeRecord) -> Result<()>;
    fn versioned_up_to(&self) -> Result<u64>;
    fn set_versioned_up_to(&mut self, seq: u64) -> Result<()>;
    /// Advances the store's clock past a peer's reading.
    fn observe_hlc(&mut self, hlc: u64);
    fn commit(self) -> Result<()>;
    /// [`HubBatch::commit`], returning the store's last history sequence number as of the
    /// commit. No other write commits while a batch is open, so the entries after what the
    /// batch could read of the history are all its own.
    fn commit_with_seq(self) -> Result<u64>;
    /// Whether [`HubBatch::commit`] would succeed, committing nothing.
    fn check(self) -> Result<()>;
}

const VERSIONED_KEY: &[u8] = b"versions";

/// The hub on Outpost's own storage: documents in their collections, the rest in record
/// trees (`sync.hub.edges`, `sync.hub.versions`, `sync.hub.drops`, `sync.hub.meta`).
pub struct SledHubStore {
    storage: Storage,
    edges: RecordTree<EdgeRecord>,
    versions: RecordTree<Version>,
    drops: RecordTree<DropRecord>,
    meta: RecordTree<VersionedUpTo>,
    observations: SledObservations,
    schemas: RecordTree<SchemaRecord>,
}

impl SledHubStore {
    pub fn new(storage: Storage) -> Result<SledHubStore> {
        Ok(SledHubStore {
            edges: storage.records("sync.hub.edges")?,
            versions: storage.records("sync.hub.versions")?,
            drops: storage.records("sync.hub.drops")?,
            meta: storage.records("sync.hub.meta")?,
            observations: SledObservations::new(&storage)?,
            schemas: storage.records("sync.hub.schemas")?,
            storage,
        })
    }
}

/// The key of a document's version: its namespace (which cannot hold a NUL), a NUL, and the
/// order-preserving encoding of its `_id`.
fn version_key(ns: &str, id: &Bson) -> Vec<u8> {
    let mut key = ns.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&keyenc::encode(id));
    key
}

impl Versions for SledHubStore {
    fn version(&self, ns: &str, id: &Bson) -> Result<Option<Version>> {
        Ok(self.versions.get(&version_key(ns, id))?)
    }

    fn dropped(&self, ns: &str) -> Result<Option<DropRecord>> {
        Ok(self.drops.get(ns.as_bytes())?)
    }
}

impl HubStore for SledHubStore {
    type Batch<'a> = SledHubBatch<'a>;

    fn batch(&self) -> SledHubBatch<'_> {
        SledHubBatch {
            store: self,
            batch: self.storage.remote_batch(),
        }
    }

    fn edges(&self) -> Result<Vec<EdgeRecord>> {
        let mut edges = self
            .edges
            .iter()
            .map(|item| item.map(|(_, edge)| edge))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        edges.sort_by_key(|edge| edge.created);
        Ok(edges)
    }

    fn edge(&self, id: &str) -> Result<Option<EdgeRecord>> {
        Ok(self.edges.get(id.as_bytes())?)
    }

    fn put_edge(&self, edge: &EdgeRecord) -> Result<()> {
        self.edges.put(edge.id.as_bytes(), edge)?;
        Ok(self.storage.flush()?)
    }

    fn remove_edge(&self, id: &str) -> Result<()> {
        self.edges.remove(id.as_bytes())?;
        Ok(self.storage.flush()?)
    }

    fn put_metrics(&self, edge: &str, record: &MetricsRecord) -> Result<()> {
        self.observations.put_metrics(edge, record)
    }

    fn metrics(&self, edge: &str) -> Result<Option<MetricsRecord>> {
        self.observations.metrics(edge)
    }

    fn append_logs(&self, edge: &str, logs: &[EdgeLog], keep: usize) -> Result<()> {
        self.observations.append_logs(edge, logs, keep)
    }

    fn logs(&self, edge: &str) -> Result<Vec<EdgeLog>> {
        self.observations.logs(edge)
    }

    fn remove_observations(&self, edge: &str) -> Result<()> {
        self.observations.remove(edge)
    }

    fn schema(&self, ns: &str) -> Result<Option<SchemaRecord>> {
        Ok(self.schemas.get(ns.as_bytes())?)
    }

    fn put_schema(&self, record: &SchemaRecord) -> Result<()> {
        Ok(self.schemas.put(record.ns.as_bytes(), record)?)
    }

    fn schemas(&self) -> Result<Vec<SchemaRecord>> {
        self.schemas
            .iter()
            .map(|item| item.map(|(_, record)| record).map_err(Into::into))
            .collect()
    }

    fn document(&self, ns: &str, id: &Bson) -> Result<Option<Document>> {
        let (db, coll) = split_namespace(ns)?;
        let mut found = self.storage.find(
            db,
            coll,
            &FindOptions {
                filter: bson::doc! {"_id": id.clone()},
                limit: 1,
                ..FindOptions::default()
            },
        )?;
        Ok(found.next().transpose()?)
    }

    fn versioned_up_to(&self) -> Result<u64> {
        Ok(self.meta.get(VERSIONED_KEY)?.map_or(0, |meta| meta.seq))
    }

    fn namespaces(&self) -> Vec<String> {
        let mut namespaces = Vec::new();
        for database in self.storage.database_names() {
            for collection in self.storage.list_collections(&database) {
                // A time-series collection's data are its buckets (internal): it is never
                // sent to edges.
                if !collection.is_view && !collection.options.contains_key("timeseries") {
                    namespaces.push(format!("{database}.{}", collection.name));
                }
            }
        }
        namespaces.sort();
        namespaces
    }

    fn documents_after<'a>(
        &'a self,
        ns: &str,
        after: Option<&Bson>,
    ) -> Result<Box<dyn Iterator<Item = Result<Document>> + 'a>> {
        let (db, coll) = split_namespace(ns)?;
        Ok(Box::new(
            self.storage
                .documents_after(db, coll, after)
                .map(|doc| doc.map_err(Into::into)),
        ))
    }

    fn ensure_timeseries(&self, ns: &str, options: &Document) -> Result<()> {
        let (db, coll) = split_namespace(ns)?;
        let (wanted, expire) = timeseries_options(options)?;
        match self.storage.create_timeseries(db, coll, &wanted, expire) {
            Ok(()) => Ok(()),
            Err(outpost_storage::Error::NamespaceExists(_)) => {
                match self.storage.timeseries_options(db, coll)? {
                    Some(held) if held == wanted => Ok(()),
                    Some(held) => Err(Error::protocol(format!(
                        "{ns} is a time-series collection at the hub with other options ({}) \
                         than at the edge ({})",
                        held.to_document()?,
                        wanted.to_document()?
                    ))),
                    None => Err(Error::protocol(format!(
                        "{ns} exists at the hub and is not a time-series collection"
                    ))),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    fn ids(&self, ns: &str) -> Result<Vec<Bson>> {
        let (db, coll) = split_namespace(ns)?;
        let found = self.storage.find(
            db,
            coll,
            &FindOptions {
                projection: Some(bson::doc! {"_id": 1}),
                ..FindOptions::default()
            },
        )?;
        let mut ids = Vec::new();
        for doc in found {
            ids.push(doc?.get("_id").cloned().unwrap_or(Bson::Null));
        }
        Ok(ids)
    }

    fn history_heads_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<HistoryEntry>> + '_> {
        Box::new(
            self.storage
                .history_heads_from(seq)
                .map(|entry| entry.map_err(Into::into)),
        )
    }

    fn last_seq(&self) -> u64 {
        self.storage.last_seq()
    }

    fn wait_for_commit_after(&self, seq: u64, timeout: Duration) -> u64 {
        self.storage.wait_for_commit_after(seq, timeout)
    }

    fn flush(&self) -> Result<()> {
        Ok(self.storage.flush()?)
    }
}

/// A [`HubBatch`] on a storage `RemoteBatch` (which holds the writer lock).
pub struct SledHubBatch<'a> {
    store: &'a SledHubStore,
    batch: RemoteBatch<'a>,
}

impl Versions for SledHubBatch<'_> {
    fn version(&self, ns: &str, id: &Bson) -> Result<Option<Version>> {
        Ok(self
            .batch
            .get_record(&self.store.versions, &version_key(ns, id))?)
    }

    fn dropped(&self, ns: &str) -> Result<Option<DropRecord>> {
        Ok(self.batch.get_record(&self.store.drops, ns.as_bytes())?)
    }
}

impl HubBatch for SledHubBatch<'_> {
    fn document(&self, ns: &str, id: &Bson) -> Result<Option<Document>> {
        let (db, coll) = split_namespace(ns)?;
        Ok(self.batch.get(db, coll, id)?)
    }

    fn put_document(&mut self, ns: &str, id: &Bson, doc: Option<Document>, origin: &Origin) {
        if let Ok((db, coll)) = split_namespace(ns) {
            self.batch.put(db, coll, id, doc, origin);
        }
    }

    fn staged_ids(&self, ns: &str) -> Vec<Bson> {
        match split_namespace(ns) {
            Ok((db, coll)) => self.batch.staged_ids(db, coll),
            Err(_) => Vec::new(),
        }
    }

    fn put_version(&mut self, ns: &str, id: &Bson, version: &Version) -> Result<()> {
        Ok(self
            .batch
            .put_record(&self.store.versions, &version_key(ns, id), Some(version))?)
    }

    fn put_drop(&mut self, ns: &str, drop: &DropRecord) -> Result<()> {
        Ok(self
            .batch
            .put_record(&self.store.drops, ns.as_bytes(), Some(drop))?)
    }

    fn put_edge(&mut self, edge: &EdgeRecord) -> Result<()> {
        Ok(self
            .batch
            .put_record(&self.store.edges, edge.id.as_bytes(), Some(edge))?)
    }

    fn versioned_up_to(&self) -> Result<u64> {
        Ok(self
            .batch
            .get_record(&self.store.meta, VERSIONED_KEY)?
            .map_or(0, |meta| meta.seq))
    }

    fn set_versioned_up_to(&mut self, seq: u64) -> Result<()> {
        Ok(self.batch.put_record(
            &self.store.meta,
            VERSIONED_KEY,
            Some(&VersionedUpTo { seq }),
        )?)
    }

    fn observe_hlc(&mut self, hlc: u64) {
        self.batch.observe_hlc(hlc);
    }

    fn commit(self) -> Result<()> {
        Ok(self.batch.commit()?)
    }

    fn commit_with_seq(self) -> Result<u64> {
        Ok(self.batch.commit_with_seq()?)
    }

    fn check(self) -> Result<()> {
        Ok(self.batch.check()?)
    }
}

/// The time-series options and `expireAfterSeconds` of catalog options an edge sent, checked
/// as `create` checks them.
fn timeseries_options(options: &Document) -> Result<(TimeseriesOptions, Option<i64>)> {
    let bad = |why: String| Error::protocol(format!("time-series options {options}: {why}"));
    let spec = options
        .get_document("timeseries")
        .map_err(|_| bad("no 'timeseries' document".into()))?;
    let stored: TimeseriesOptions =
        bson::from_document(spec.clone()).map_err(|e| bad(e.to_string()))?;
    // The options as `create` takes them, parsed again: the same options or none.
    let mut create = bson::doc! {"timeField": &stored.time_field};
    if let Some(meta) = &stored.meta_field {
        create.insert("metaField", meta);
    }
    match &stored.granularity {
        Some(granularity) => {
            create.insert("granularity", granularity);
        }
        None => {
            create.insert("bucketMaxSpanSeconds", stored.bucket_max_span_seconds);
            if let Some(rounding) = stored.bucket_rounding_seconds {
                create.insert("bucketRoundingSeconds", rounding);
            }
        }
    }
    let checked = TimeseriesOptions::parse(&create)?;
    if checked != stored {
        return Err(bad(format!("not what create makes of them ({create})")));
    }
    let expire = options
        .get("expireAfterSeconds")
        .map(parse_expire_after_seconds)
        .transpose()?;
    Ok((checked, expire))
}
