//! The database engine: [`Storage`] owns the key-value store, the catalog and the history log,
//! and runs reads and writes for the command layer.
//!
//! Layout in the key-value store:
//! - tree `catalog`: one BSON [`CollectionMeta`] per collection, keyed by namespace;
//! - tree `docs/{id}`: a collection's documents, keyed by the order-preserving encoding of `_id`;
//! - tree `index/{id}`: a secondary index, keyed by encoded key values then the document key,
//!   valued by the document key;
//! - tree `history`: the history log, keyed by a big-endian u64 sequence.
//!
//! Concurrency: one writer at a time (a mutex around [`Writer`]), readers never block. Every
//! write commits its document, index entries and history entry in one atomic batch;
//! concurrent single-document inserts share one commit (`group.rs`).

mod agg_env;
mod capped;
mod catalog;
mod commits;
mod counts;
mod geo_near;
mod group;
mod history;
mod index;
mod kv;
mod read;
mod records;
mod remote;
mod scan;
mod text_index;
mod timeseries;
mod ttl;
mod validate;
mod write;
mod write_many;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bson::{Bson, Document};

pub use capped::{capped_options, Capped, TailBatch, TailRequest};
pub use catalog::{
    default_index_name, validate_collection_name, validate_db_name, CollectionMeta, IndexMeta,
};
pub use history::{join_field_path, split_field_path, Ddl, HistoryEntry, HistoryOp, Hlc, Origin};
pub use index::CreateIndexesOutcome;
pub use read::{distinct_values, ExplainInfo, FindOptions, PlanKind, ReadCursor};
pub use records::RecordTree;
pub use remote::RemoteBatch;
pub use timeseries::{
    buckets_name, is_buckets_name, parse_expire_after_seconds, TimeseriesOptions, TimeseriesStats,
    Unpacked,
};
pub use validate::ValidateReport;
pub use write::{
    DeleteSpec, FindAndModify, FindAndModifyOutcome, UpdateOutcome, UpdateSpec, WriteOptions,
};

use crate::error::{Error, Result};
use catalog::{Collection, Index};
use kv::{Kv, Tree, WriteSet};

/// How to open a [`Storage`].
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Interval of the background flush (group commit), in milliseconds.
    pub flush_every_ms: u64,
    /// Memory for the key-value engine's page cache, in MB (sled's own default is 1 GB, too
    /// much for an edge appliance).
    pub cache_size_mb: u64,
}

/// The page cache of a store opened with default options, in MB: small enough for an
/// appliance with 1-2 GB shared with its applications. sled holds about 1.45 MB of memory per
/// MB of this setting; with 24 the server held about 130 MB after loading 200,000 documents
/// (64: about 195 MB). A working set larger than the cache is read from the files: finds by
/// `_id` among a million documents ran at 8.8k/s with 24 MB, 19k/s with 64 (`benches/`).
pub const DEFAULT_CACHE_SIZE_MB: u64 = 24;

impl Default for StorageOptions {
    fn default() -> StorageOptions {
        StorageOptions {
            flush_every_ms: 100,
            cache_size_mb: DEFAULT_CACHE_SIZE_MB,
        }
    }
}

/// The database: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
    /// Whether a single-document insert waits for the writer lock; see
    /// [`Storage::without_waiting`].
    waits_for_writer: bool,
}

struct Inner {
    kv: Kv,
    catalog: Tree,
    history: Tree,
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
    writer: Mutex<Writer>,
    /// Checked before committing a local insert, update or replace (see [`WriteGuard`]).
    write_guard: RwLock<Option<WriteGuard>>,
    /// The last committed history sequence number, for consumers that wait for commits.
    commits: commits::CommitWatch,
    /// Committed document count and size of capped collections, by collection id.
    capped_totals: Mutex<std::collections::HashMap<u64, capped::CappedTotals>>,
    /// Document count by collection id, once asked for (see `counts.rs`).
    doc_counts: Mutex<std::collections::HashMap<u64, u64>>,
    /// Single-document inserts waiting to be committed in a group (see `group.rs`).
    inserts: group::InsertQueue,
}

/// A check the sync layer runs on every local (`Origin::Local`) insert, update and replace
/// before it commits: `(namespace, old document, new document)`. An error refuses the write
/// (an edge in `write_outside_query = "reject"` mode refuses writes its query does not sync).
/// Changes applied from a sync peer are not checked.
pub type WriteGuard = Arc<dyn Fn(&str, Option<&Document>, &Document) -> Result<()> + Send + Sync>;

/// State only the single writer touches.
pub(crate) struct Writer {
    next_seq: u64,
    hlc: Hlc,
}

/// A database as `listDatabases` reports it.
#[derive(Debug, Clone)]
pub struct DatabaseInfo {
    pub name: String,
    pub size_on_disk: u64,
    pub collections: usize,
}

/// A collection as `listCollections` reports it.
#[derive(Debug, Clone)]
pub struct CollectionInfo {
    pub name: String,
    /// A view (`options` holds `viewOn` and `pipeline`).
    pub is_view: bool,
    pub options: Document,
    pub uuid: bson::Binary,
}

/// Counts and sizes for `collStats` and `dbStats`.
#[derive(Debug, Clone, Default)]
pub struct CollectionStats {
    pub count: u64,
    /// Sum of the BSON sizes of the documents.
    pub size: u64,
    pub index_sizes: Vec<(String, u64)>,
    /// A capped collection's limits: size in bytes, and the document count if any.
    pub capped: Option<(u64, Option<u64>)>,
}

/// Which indexes `dropIndexes` drops.
#[derive(Debug, Clone)]
pub enum IndexSelector {
    All,
    Names(Vec<String>),
    Key(Document),
}

impl Storage {
    /// Opens (or creates) the database in `path`.
    pub fn open(path: &Path, options: StorageOptions) -> Result<Storage> {
        Storage::from_kv(Kv::open(
            path,
            options.flush_every_ms,
            cache_bytes(options.cache_size_mb),
        )?)
    }

    /// A database in a temporary directory, removed when the last handle is dropped, with
    /// the default options.
    pub fn temporary() -> Result<Storage> {
        Storage::temporary_with(StorageOptions::default())
    }

    /// A database in a temporary directory, removed when the last handle is dropped.
    pub fn temporary_with(options: StorageOptions) -> Result<Storage> {
        Storage::from_kv(Kv::temporary(cache_bytes(options.cache_size_mb))?)
    }

    /// A private database in memory that is never flushed, removed when the last handle is
    /// dropped: the server keeps a transaction's snapshot in one.
    pub fn scratch() -> Result<Storage> {
        Storage::from_kv(Kv::scratch()?)
    }

    fn from_kv(kv: Kv) -> Result<Storage> {
        let catalog = kv.tree("catalog")?;
        let history = kv.tree("history")?;
        let mut collections = BTreeMap::new();
        for item in catalog.iter() {
            let (_, value) = item?;
            let meta = CollectionMeta::from_bytes(&value)?;
            let opened = open_collection(&kv, meta)?;
            collections.insert(opened.meta.namespace(), Arc::new(opened));
        }
        let (next_seq, last_hlc) = match history.last()? {
            Some((key, value)) => {
                let seq = decode_seq(&key)?;
                let entry = HistoryEntry::from_bytes(seq, &value)?;
                (seq + 1, entry.hlc)
            }
            None => (1, 0),
        };
        Ok(Storage {
            inner: Arc::new(Inner {
                kv,
                catalog,
                history,
                collections: RwLock::new(collections),
                writer: Mutex::new(Writer {
                    next_seq,
                    hlc: Hlc::new(last_hlc),
                }),
                write_guard: RwLock::new(None),
                commits: commits::CommitWatch::new(next_seq - 1),
                capped_totals: Mutex::new(std::collections::HashMap::new()),
                doc_counts: Mutex::new(std::collections::HashMap::new()),
                inserts: group::InsertQueue::default(),
            }),
            waits_for_writer: true,
        })
    }

    /// Whether this store's writes wait for the writer lock (see [`Storage::without_waiting`]).
    pub fn waits_for_writer(&self) -> bool {
        self.waits_for_writer
    }

    /// This store, for a caller that must not block (an async runtime's thread): its
    /// `insert_many` and `update` fail with [`Error::WriterBusy`], having done nothing,
    /// instead of waiting for the writer lock. They go ahead only when no other write holds
    /// the lock, with one document for a collection that is not time-series (`insert_many`)
    /// or an update that is not `multi`. Its other writes wait as usual.
    pub fn without_waiting(&self) -> Storage {
        Storage {
            inner: self.inner.clone(),
            waits_for_writer: false,
        }
    }

    /// Waits until every acknowledged write is on disk.
    pub fn flush(&self) -> Result<()> {
        self.inner.kv.flush()
    }

    /// Takes a sync peer's clock reading into account, so that local writes made after seeing a
    /// remote change get later timestamps even when this machine's clock is behind.
    pub fn observe_hlc(&self, remote: u64) {
        self.writer().hlc.observe(remote);
    }

    /// Installs (or with `None` removes) the [`WriteGuard`].
    pub fn set_write_guard(&self, guard: Option<WriteGuard>) {
        *self
            .inner
            .write_guard
            .write()
            .unwrap_or_else(|p| p.into_inner()) = guard;
    }

    /// Runs the [`WriteGuard`] for a local write.
    pub(crate) fn check_write_guard(
        &self,
        ns: &str,
        origin: &Origin,
        old: Option<&Document>,
        new: &Document,
    ) -> Result<()> {
        if *origin != Origin::Local {
            return Ok(());
        }
        let guard = self
            .inner
            .write_guard
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match guard {
            Some(guard) => guard(ns, old, new),
            None => Ok(()),
        }
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, Writer> {
        // A panic while holding the lock cannot leave the store half-written (commits are
        // atomic), so a poisoned lock is safe to take over.
        self.inner.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer lock, or [`Error::WriterBusy`] when this store may not wait for it (see
    /// [`Storage::without_waiting`]) and another write holds it.
    pub(crate) fn writer_unless_busy(&self) -> Result<MutexGuard<'_, Writer>> {
        if self.waits_for_writer {
            return Ok(self.writer());
        }
        match self.inner.writer.try_lock() {
            Ok(w) => Ok(w),
            Err(std::sync::TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => Err(Error::WriterBusy),
        }
    }

    fn collections_read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Collection>>> {
        self.inner
            .collections
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn collections_write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Collection>>> {
        self.inner
            .collections
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn collection(&self, db: &str, coll: &str) -> Option<Arc<Collection>> {
        self.collections_read()
            .get(&format!("{db}.{coll}"))
            .cloned()
    }

    /// The collection a write goes to, if it exists; an error for a view.
    pub(crate) fn writable_collection(
        &self,
        db: &str,
        coll: &str,
    ) -> Result<Option<Arc<Collection>>> {
        match self.collection(db, coll) {
            Some(c) if c.meta.is_view() => Err(Error::coded(
                166,
                format!("Namespace {db}.{coll} is a view, not a collection"),
            )),
            // Inserts and deletes of measurements go through `timeseries`; nothing else
            // writes to a time-series collection.
            Some(_) if self.timeseries_options(db, coll)?.is_some() => {
                Err(Error::NotSupported(format!(
                    "{db}.{coll} is a time-series collection: Outpost supports inserts and \
                     deletes of its measurements, not updates, findAndModify, $out or $merge"
                )))
            }
            other => Ok(other),
        }
    }

    /// The collection, created with default options if it does not exist (implicit creation
    /// on first write). Call with the writer lock held.
    pub(crate) fn collection_or_create(
        &self,
        _w: &mut Writer,
        db: &str,
        coll: &str,
    ) -> Result<Arc<Collection>> {
        if let Some(c) = self.writable_collection(db, coll)? {
            return Ok(c);
        }
        self.create_collection_locked(db, coll, Document::new())
    }

    fn create_collection_locked(
        &self,
        db: &str,
        coll: &str,
        options: Document,
    ) -> Result<Arc<Collection>> {
        validate_collection_name(db, coll)?;
        let id = self.inner.kv.generate_id()?;
        let meta = CollectionMeta {
            id,
            db: db.to_owned(),
            name: coll.to_owned(),
            uuid: bson::Binary {
                subtype: bson::spec::BinarySubtype::Uuid,
                bytes: bson::Uuid::new().bytes().to_vec(),
            },
            options,
            indexes: Vec::new(),
        };
        let opened = Arc::new(open_collection(&self.inner.kv, meta)?);
        self.inner
            .catalog
            .insert(opened.meta.namespace().as_bytes(), opened.meta.to_bytes()?)?;
        self.collections_write()
            .insert(opened.meta.namespace(), opened.clone());
        Ok(opened)
    }

    /// Replaces the cached and persisted metadata of a collection (after index changes).
    pub(crate) fn replace_collection_meta(
        &self,
        meta: CollectionMeta,
        set: Option<&mut WriteSet>,
    ) -> Result<Arc<Collection>> {
        let bytes = meta.to_bytes()?;
        let ns = meta.namespace();
        let opened = Arc::new(open_collection(&self.inner.kv, meta)?);
        match set {
            Some(set) => set.put(&self.inner.catalog, ns.as_bytes(), bytes),
            None => {
                self.inner.catalog.insert(ns.as_bytes(), bytes)?;
            }
        }
        self.collections_write().insert(ns, opened.clone());
        Ok(opened)
    }

    // ------------------------------------------------------------------ catalog

    /// The names of the databases that hold at least one collection, in order; unlike
    /// [`Storage::list_databases`], it reads no data.
    pub fn database_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .collections_read()
            .values()
            .map(|c| c.meta.db.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Databases that hold at least one collection, by name, with their approximate size:
    /// it reads every document (see [`Storage::database_names`] for the names alone).
    pub fn list_databases(&self) -> Vec<DatabaseInfo> {
        let mut out: BTreeMap<String, DatabaseInfo> = BTreeMap::new();
        for c in self.collections_read().values() {
            let info = out
                .entry(c.meta.db.clone())
                .or_insert_with(|| DatabaseInfo {
                    name: c.meta.db.clone(),
                    size_on_disk: 0,
                    collections: 0,
                });
            info.collections += 1;
            info.size_on_disk += approximate_tree_size(&c.docs);
        }
        out.into_values().collect()
    }

    /// Collections of `db`, by name.
    pub fn list_collections(&self, db: &str) -> Vec<CollectionInfo> {
        self.collections_read()
            .values()
            .filter(|c| c.meta.db == db)
            .map(|c| CollectionInfo {
                name: c.meta.name.clone(),
                options: c.meta.options.clone(),
                uuid: c.meta.uuid.clone(),
                is_view: c.meta.is_view(),
            })
            .collect()
    }

    pub fn collection_exists(&self, db: &str, coll: &str) -> bool {
        self.collection(db, coll).is_some()
    }

    /// Whether `db.coll` exists and an insert into it does only an insert's own work: it is
    /// not a view, capped or time-series, and has no validator.
    pub fn is_plain_collection(&self, db: &str, coll: &str) -> bool {
        self.collection(db, coll).is_some_and(|c| {
            !c.meta.is_view()
                && c.capped.is_none()
                && c.validator.is_none()
                && !c.meta.options.contains_key("timeseries")
        })
    }

    /// Creates a collection; `NamespaceExists` if it exists.
    pub fn create_collection(&self, db: &str, coll: &str, options: Document) -> Result<()> {
        let _w = self.writer();
        if self.collection(db, coll).is_some() {
            return Err(Error::NamespaceExists(format!(
                "Collection {db}.{coll} already exists."
            )));
        }
        self.create_collection_locked(db, coll, options)?;
        Ok(())
    }

    /// Creates a view: a read-only collection defined by a pipeline over `view_on` (a
    /// collection or another view of the same database). The pipeline is checked by the caller.
    pub fn create_view(
        &self,
        db: &str,
        name: &str,
        view_on: &str,
        pipeline: Vec<Document>,
    ) -> Result<()> {
        validate_collection_name(db, view_on)?;
        let options = bson::doc! {
            "viewOn": view_on,
            "pipeline": pipeline.into_iter().map(Bson::Document).collect::<Vec<_>>(),
        };
        self.create_collection(db, name, options)
    }

    /// The definition of a view: the namespace it reads (in the same database) and its
    /// pipeline; `None` when `db.name` is not a view.
    pub fn view_definition(&self, db: &str, name: &str) -> Option<(String, Vec<Document>)> {
        let c = self.collection(db, name)?;
        let view_on = c.meta.options.get_str("viewOn").ok()?.to_owned();
        let pipeline = c
            .meta
            .options
            .get_array("pipeline")
            .map(|a| a.iter().filter_map(|s| s.as_document().cloned()).collect())
            .unwrap_or_default();
        Some((view_on, pipeline))
    }

    /// A view resolved through the views it stacks on: the collection it finally reads and
    /// the pipeline to run over it (the innermost view's stages first); `None` when
    /// `db.name` is not a view. Views stack at most [`MAX_VIEW_DEPTH`] deep (code 149 past
    /// that, as mongod's ViewDepthLimitExceeded).
    /// A time-series collection reads as a view of its measurements: itself, with no stages
    /// (`Storage::aggregate` unpacks its buckets).
    pub fn resolve_view(&self, db: &str, name: &str) -> Result<Option<(String, Vec<Document>)>> {
        if self.timeseries_options(db, name)?.is_some() {
            return Ok(Some((name.to_owned(), Vec::new())));
        }
        let Some((mut source, mut pipeline)) = self.view_definition(db, name) else {
            return Ok(None);
        };
        for _ in 0..MAX_VIEW_DEPTH {
            match self.view_definition(db, &source) {
                Some((next, mut inner)) => {
                    inner.extend(pipeline);
                    pipeline = inner;
                    source = next;
                }
                None => return Ok(Some((source, pipeline))),
            }
        }
        Err(view_depth_error())
    }

    /// Drops a collection; false if it did not exist.
    pub fn drop_collection(&self, db: &str, coll: &str) -> Result<bool> {
        let mut w = self.writer();
        self.drop_collection_locked(&mut w, db, coll, None)
    }

    fn drop_collection_locked(
        &self,
        w: &mut Writer,
        db: &str,
        coll: &str,
        ddl: Option<Ddl>,
    ) -> Result<bool> {
        let Some(c) = self.collection(db, coll) else {
            return Ok(false);
        };
        // A time-series collection's buckets go with it.
        if self.timeseries_options(db, coll)?.is_some() {
            self.drop_collection_locked(w, db, &buckets_name(coll), None)?;
        }
        let ns = c.meta.namespace();
        let mut set = WriteSet::new();
        set.delete(&self.inner.catalog, ns.as_bytes());
        self.append_entry(
            w,
            &mut set,
            ddl_entry(&ns, HistoryOp::Drop, Bson::Null, None, ddl),
        )?;
        let kv = &self.inner.kv;
        kv.drop_tree_in(&mut set, &docs_tree_name(c.meta.id))?;
        for index in &c.indexes {
            kv.drop_tree_in(&mut set, &index_tree_name(index.meta.id))?;
        }
        if c.capped.is_some() {
            kv.drop_tree_in(&mut set, &capped::capped_tree_name(c.meta.id))?;
        }
        self.commit_set(set)?;
        self.collections_write().remove(&ns);
        self.forget_count(c.meta.id);
        if c.capped.is_some() {
            self.forget_capped(c.meta.id);
        }
        Ok(true)
    }

    /// Drops every collection of `db`.
    pub fn drop_database(&self, db: &str) -> Result<()> {
        let mut w = self.writer();
        let names: Vec<String> = self
            .list_collections(db)
            .into_iter()
            .map(|c| c.name)
            .collect();
        let last = names.len().saturating_sub(1);
        for (i, name) in names.iter().enumerate() {
            let ddl = (i == last).then_some(Ddl::DropDatabase);
            self.drop_collection_locked(&mut w, db, name, ddl)?;
        }
        Ok(())
    }

    /// Renames `from_db.from` to `to_db.to`. With `drop_target`, an existing target is dropped.
    pub fn rename_collection(
        &self,
        from_db: &str,
        from: &str,
        to_db: &str,
        to: &str,
        drop_target: bool,
    ) -> Result<()> {
        let mut w = self.writer();
        validate_collection_name(to_db, to)?;
        let Some(source) = self.collection(from_db, from) else {
            return Err(Error::NamespaceNotFound(format!(
                "Source collection {from_db}.{from} does not exist"
            )));
        };
        if from_db == to_db && from == to {
            return Err(Error::coded(20, "Can't rename a collection to itself"));
        }
        // As mongod: a time-series collection (or its buckets) keeps its name.
        for (db, name) in [(from_db, from), (to_db, to)] {
            if self.timeseries_options(db, name)?.is_some() || is_buckets_name(name) {
                return Err(Error::coded(
                    20,
                    format!("Renaming a time-series collection is not allowed: {db}.{name}"),
                ));
            }
        }
        if self.collection(to_db, to).is_some() {
            if !drop_target {
                return Err(Error::NamespaceExists("target namespace exists".into()));
            }
            self.drop_collection_locked(&mut w, to_db, to, None)?;
        }
        // Documents move under the new name: a drop of the old namespace and inserts into the
        // new one in the history, so a sync peer sees the same data under the new name.
        let mut meta = source.meta.clone();
        let old_ns = meta.namespace();
        meta.db = to_db.to_owned();
        meta.name = to.to_owned();
        let new_ns = meta.namespace();
        let mut set = WriteSet::new();
        set.delete(&self.inner.catalog, old_ns.as_bytes());
        set.put(&self.inner.catalog, new_ns.as_bytes(), meta.to_bytes()?);
        let renamed = Some(Ddl::RenameTo(new_ns.clone()));
        self.append_entry(
            &mut w,
            &mut set,
            ddl_entry(&old_ns, HistoryOp::Drop, Bson::Null, None, renamed),
        )?;
        self.commit_set(set)?;
        for item in source.docs.iter() {
            let (_, value) = item?;
            let doc = decode_document(&value)?;
            let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
            let mut set = WriteSet::new();
            let moved = Some(Ddl::RenamedFrom(old_ns.clone()));
            self.append_entry(
                &mut w,
                &mut set,
                ddl_entry(&new_ns, HistoryOp::Insert, id, Some(doc), moved),
            )?;
            self.commit_set(set)?;
        }
        let opened = Arc::new(open_collection(&self.inner.kv, meta)?);
        let mut map = self.collections_write();
        map.remove(&old_ns);
        map.insert(new_ns, opened);
        Ok(())
    }

    /// Merges `changes` (validator, validationLevel, validationAction) into a collection's
    /// options, as `collMod` does.
    pub fn set_collection_options(&self, db: &str, coll: &str, changes: &Document) -> Result<()> {
        let _w = self.writer();
        let Some(collection) = self.collection(db, coll) else {
            return Err(Error::NamespaceNotFound(format!(
                "ns does not exist: {db}.{coll}"
            )));
        };
        let mut meta = collection.meta.clone();
        for (key, value) in changes {
            meta.options.insert(key.clone(), value.clone());
        }
        catalog::Validator::from_options(&meta.options)?;
        self.replace_collection_meta(meta, None)?;
        Ok(())
    }

    /// Changes a TTL index's `expireAfterSeconds`; returns the old value.
    pub fn set_index_expiry(
        &self,
        db: &str,
        coll: &str,
        index: &IndexSelector,
        seconds: i64,
    ) -> Result<Option<i64>> {
        let _w = self.writer();
        let Some(collection) = self.collection(db, coll) else {
            return Err(Error::NamespaceNotFound(format!(
                "ns does not exist: {db}.{coll}"
            )));
        };
        let mut meta = collection.meta.clone();
        let found = meta.indexes.iter_mut().find(|i| match index {
            IndexSelector::Names(names) => names.contains(&i.name),
            IndexSelector::Key(key) => index::same_key_pattern(&i.key, key),
            IndexSelector::All => false,
        });
        let Some(found) = found else {
            return Err(Error::IndexNotFound("cannot find index for collMod".into()));
        };
        let Some(old) = found.expire_after_seconds else {
            return Err(Error::BadValue(
                "no expireAfterSeconds field to update".into(),
            ));
        };
        found.expire_after_seconds = Some(seconds);
        self.replace_collection_meta(meta, None)?;
        Ok(Some(old))
    }

    /// Count and sizes of one collection.
    pub fn collection_stats(&self, db: &str, coll: &str) -> Result<CollectionStats> {
        let Some(c) = self.collection(db, coll) else {
            return Err(Error::NamespaceNotFound(format!(
                "Collection [{db}.{coll}] not found."
            )));
        };
        let mut stats = CollectionStats {
            capped: c.capped.as_ref().map(|capped| (capped.size, capped.max)),
            ..CollectionStats::default()
        };
        for item in c.docs.iter() {
            let (key, value) = item?;
            stats.count += 1;
            stats.size += u64::try_from(value.len()).unwrap_or(u64::MAX);
            let _ = key;
        }
        stats
            .index_sizes
            .push(("_id_".into(), approximate_key_bytes(&c.docs)));
        for index in &c.indexes {
            stats
                .index_sizes
                .push((index.meta.name.clone(), approximate_tree_size(&index.tree)));
        }
        Ok(stats)
    }

    /// Bytes the whole store occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.inner.kv.size_on_disk()
    }

    // ------------------------------------------------------------------ history

    /// Appends a history entry to `set`, taking the next sequence number and clock reading.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append_history(
        &self,
        w: &mut Writer,
        set: &mut WriteSet,
        ns: &str,
        op: HistoryOp,
        id: Bson,
        doc: Option<Document>,
        changed_fields: Option<Vec<String>>,
        increments: Option<Document>,
        origin: &Origin,
    ) -> Result<u64> {
        let entry = HistoryEntry {
            seq: 0,
            ns: ns.to_owned(),
            op,
            id,
            doc,
            changed_fields,
            increments,
            hlc: 0,
            origin: origin.clone(),
            before: None,
            ddl: None,
        };
        self.append_entry(w, set, entry)
    }

    /// Appends `entry` to `set` with the next sequence number and clock reading (its own
    /// `seq` and `hlc` are replaced).
    pub(crate) fn append_entry(
        &self,
        w: &mut Writer,
        set: &mut WriteSet,
        mut entry: HistoryEntry,
    ) -> Result<u64> {
        let seq = w.next_seq;
        entry.seq = seq;
        entry.hlc = w.hlc.tick();
        set.put(&self.inner.history, seq.to_be_bytes(), entry.to_bytes()?);
        set.last_history = Some((seq, entry.hlc));
        w.next_seq += 1;
        Ok(seq)
    }

    /// Commits `set` atomically and, when it appends history, tells the commit watchers. Call
    /// with the writer lock held, so published sequence numbers only grow.
    pub(crate) fn commit_set(&self, set: WriteSet) -> Result<()> {
        let last_history = set.last_history;
        self.inner.kv.commit(set)?;
        if let Some((seq, hlc)) = last_history {
            self.inner.commits.publish(seq, hlc);
        }
        Ok(())
    }

    /// History entries with sequence numbers at or after `from`, in order.
    pub fn history_from(&self, from: u64) -> impl Iterator<Item = Result<HistoryEntry>> + Send {
        self.history_range(from, HistoryEntry::from_bytes)
    }

    /// [`Storage::history_from`] without the entries' documents (`doc` and `before` are
    /// `None`), for readers that need only which document changed, how and when.
    pub fn history_heads_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<HistoryEntry>> + Send {
        self.history_range(from, HistoryEntry::head_from_bytes)
    }

    /// [`Storage::history_from`] with the entries of sync peers left undecoded: each item is
    /// a sequence number, with its entry when it was written locally.
    pub fn local_history_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, Option<HistoryEntry>)>> + Send {
        self.history_range(from, |seq, bytes| {
            if !HistoryEntry::is_local_bytes(seq, bytes)? {
                return Ok((seq, None));
            }
            HistoryEntry::from_bytes(seq, bytes).map(|entry| (seq, Some(entry)))
        })
    }

    /// The history from sequence `from` on, each entry read by `decode`.
    fn history_range<T>(
        &self,
        from: u64,
        decode: impl Fn(u64, &[u8]) -> Result<T> + Send,
    ) -> impl Iterator<Item = Result<T>> + Send {
        self.inner
            .history
            .range(from.to_be_bytes()..)
            .map(move |item| {
                let (key, value) = item?;
                decode(decode_seq(&key)?, &value)
            })
    }

    /// The sequence number of the latest history entry (0 when the log is empty).
    pub fn last_seq(&self) -> u64 {
        self.writer().next_seq - 1
    }

    /// Removes history entries from the oldest on: those at or below sequence `through` (every
    /// consumer's cursor is past them) and with a clock before `before_hlc` (the retention),
    /// at most `max` of them in one atomic batch. Returns how many were removed.
    pub fn trim_history(&self, through: u64, before_hlc: u64, max: usize) -> Result<u64> {
        // The newest entry always stays: a restart recovers the next sequence number and the
        // clock from it, and sequence numbers must never be reused.
        let through = through.min(self.last_seq().saturating_sub(1));
        let mut set = WriteSet::new();
        let mut removed = 0;
        let end = through.saturating_add(1);
        for item in self.inner.history.range(..end.to_be_bytes()).take(max) {
            let (key, value) = item?;
            if HistoryEntry::hlc_of(decode_seq(&key)?, &value)? >= before_hlc {
                break;
            }
            set.delete(&self.inner.history, key);
            removed += 1;
        }
        self.commit_set(set)?;
        Ok(removed)
    }
}

/// `mb` megabytes in bytes (saturating: a huge setting means "as much as possible").
fn cache_bytes(mb: u64) -> u64 {
    mb.saturating_mul(1024 * 1024)
}

/// A local history entry for a catalog operation (seq and clock are set when appended).
fn ddl_entry(
    ns: &str,
    op: HistoryOp,
    id: Bson,
    doc: Option<Document>,
    ddl: Option<Ddl>,
) -> HistoryEntry {
    HistoryEntry {
        seq: 0,
        ns: ns.to_owned(),
        op,
        id,
        doc,
        changed_fields: None,
        increments: None,
        hlc: 0,
        origin: Origin::Local,
        before: None,
        ddl,
    }
}

/// Views may stack this deep, and view reads nest this deep (a view read by `$lookup` inside
/// a view's pipeline), as in MongoDB.
pub const MAX_VIEW_DEPTH: usize = 20;

/// mongod's ViewDepthLimitExceeded.
pub(crate) fn view_depth_error() -> Error {
    Error::coded(
        149,
        format!("View depth too deep or view cycle detected; maximum depth is {MAX_VIEW_DEPTH}"),
    )
}

fn open_collection(kv: &Kv, meta: CollectionMeta) -> Result<Collection> {
    let docs = kv.tree(&docs_tree_name(meta.id))?;
    let mut indexes = Vec::with_capacity(meta.indexes.len());
    for index_meta in &meta.indexes {
        let tree = kv.tree(&index_tree_name(index_meta.id))?;
        indexes.push(Index::open(index_meta.clone(), tree)?);
    }
    let validator = catalog::Validator::from_options(&meta.options)?;
    let capped = capped::open_capped(kv, meta.id, &meta.options)?;
    Ok(Collection {
        capped,
        meta,
        docs,
        indexes,
        validator,
    })
}

fn docs_tree_name(id: u64) -> String {
    format!("docs/{id}")
}

fn index_tree_name(id: u64) -> String {
    format!("index/{id}")
}

fn decode_seq(key: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| Error::Corrupt("history key is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Decodes a stored document. Going through `RawDocument` is about a quarter faster than
/// `Document::from_reader` (measured with bson 2.15 on a 7-field document: 1.6 against 2.2 µs).
pub(crate) fn decode_document(bytes: &[u8]) -> Result<Document> {
    let corrupt = |e: bson::raw::Error| Error::Corrupt(format!("stored document: {e}"));
    let raw = bson::RawDocument::from_bytes(bytes).map_err(corrupt)?;
    Document::try_from(raw).map_err(corrupt)
}

fn approximate_tree_size(tree: &Tree) -> u64 {
    tree.iter()
        .filter_map(|r| r.ok())
        .map(|(k, v)| u64::try_from(k.len() + v.len()).unwrap_or(0))
        .sum()
}

fn approximate_key_bytes(tree: &Tree) -> u64 {
    tree.iter()
        .keys()
        .filter_map(|r| r.ok())
        .map(|k| u64::try_from(k.len()).unwrap_or(0))
        .sum()
}

// Handles are shared across tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Storage>();
};

#[cfg(test)]
mod tests;
