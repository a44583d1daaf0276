//! The hub's side of sync: the edge registry, registration, applying uploads, serving
//! downloads and snapshots.
//!
//! Everything the hub knows lives in its own storage, in database [`HUB_DATABASE`]:
//! - `edges`: one document per edge instance: `_id` (24 hex characters), `name`, `service`,
//!   `query` (as given), `queryVersion`, `defaultDb`, `registrationKeyHash`,
//!   `registrationKeyUsed`, `apiKeyHash` (SHA-256 hex; keys themselves are never stored),
//!   `created`, `lastSeen`, and `uploadedSeq` (the edge's last applied history sequence: uploads
//!   at or below it are ignored, which makes a re-sent batch harmless);
//! - `versions`: for each document an edge wrote, `{_id: {ns, id}, hlc, origin, deleted}`, the
//!   last-writer-wins version of the document (see [`Hub::upload`]);
//! - `drops`: per namespace, the clock of its last drop; `meta`: how far the hub's own local
//!   writes have versions.
//!
//! An upload commits atomically: its documents, their versions and the edge's `uploadedSeq` in
//! one storage batch, so a failure or a crash part way applies nothing and the re-sent batch
//! applies once.
//!
//! The hub's bookkeeping database is internal (see
//! [`crate::instance_query::is_internal_namespace`]) and never syncs.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use outpost_storage::query::update::add_numbers;
use outpost_storage::value::keyenc;
use outpost_storage::{
    join_field_path, split_field_path, FindOptions, HistoryOp, Origin, RemoteBatch, Storage,
};

use crate::error::{Error, Result};
use crate::id_rules::{check_id, ServiceType};
use crate::instance_query::{is_internal_namespace, InstanceQuery, QueryMatch};
use crate::protocol::{
    hash_key, random_key, read_str, read_u64, split_namespace, u64_to_i64, Change, DOWNLOAD,
    MAX_BATCH_BYTES, MAX_BATCH_COUNT, REGISTER, SNAPSHOT, UPLOAD,
};

/// The hub's bookkeeping database.
pub const HUB_DATABASE: &str = "__outpost_hub";
const EDGES: &str = "edges";
const VERSIONS: &str = "versions";
const DROPS: &str = "drops";
/// How stale the registry's `lastSeen` may get (milliseconds).
const LAST_SEEN_PERSIST_MS: i64 = 60_000;
/// History entries one download request examines at most (so a request over a long stretch of
/// unrelated history still answers quickly; the edge asks again from `next`).
const DOWNLOAD_SCAN_LIMIT: usize = 10_000;
/// History entries one commit of hub-local versions covers at most.
const CATCH_UP_CHUNK: usize = 5_000;
/// Documents one snapshot page examines at most (the edge asks again from the position).
const SNAPSHOT_SCAN_LIMIT: usize = 10_000;

/// The hub: cheap to share (`Arc<Hub>`), one per hub server.
pub struct Hub {
    storage: Storage,
    /// Registry changes and uploads are serialized: one edge's batch applies as a unit with
    /// respect to other requests, and `uploadedSeq` never goes backwards.
    lock: Mutex<HubMemory>,
}

/// What the hub keeps in memory, under its lock.
#[derive(Default)]
struct HubMemory {
    /// When each edge was last heard from; written to the registry at most once a minute (every
    /// registry write is a history entry).
    last_seen: std::collections::HashMap<String, DateTime>,
    /// Each edge's download cursor, from its last download request (persisted with
    /// `lastSeen` as `downloadedSeq`): the hub's history at or below the smallest is no
    /// longer needed (see [`Hub::history_floor`]).
    downloaded: std::collections::HashMap<String, u64>,
    /// The hub history sequence up to which hub-local writes have versions (see
    /// [`Hub::catch_up_versions`]); `None` until read from `meta` after a start.
    versioned_seq: Option<u64>,
}

/// The instance id of the hub's own (local) writes in `versions`.
pub const HUB_INSTANCE: &str = "hub";
const META: &str = "meta";

/// Who wrote a document last, and when: the last-writer-wins key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    /// The latest clock of any write to the document.
    hlc: u64,
    deleted: bool,
    /// The instance whose version of the document the hub holds: an edge id, or
    /// [`HUB_INSTANCE`] (a hub write, or a merge of several instances' fields).
    origin: String,
    /// Per-field versions (field paths, see [`join_field_path`]) newer than the last
    /// whole-document write:
    /// (field, hlc, instance). A field not listed has the version of the last whole write,
    /// `base`.
    fields: Vec<(String, u64, String)>,
    base: (u64, String),
}

impl Version {
    /// A whole-document write (insert, replace, delete) by `origin` at `hlc`.
    fn whole(hlc: u64, deleted: bool, origin: &str) -> Version {
        Version {
            hlc,
            deleted,
            origin: origin.to_string(),
            fields: Vec::new(),
            base: (hlc, origin.to_string()),
        }
    }

    /// Later clock wins; on a tie a delete wins, then the greater instance id.
    fn key(&self) -> (u64, bool, &str) {
        (self.hlc, self.deleted, self.origin.as_str())
    }

    /// The version of a field (a field path, see [`join_field_path`]): the latest write to it,
    /// to a field that contains it or to a field inside it. A change of the field must be
    /// later than all of them to win.
    fn field_key(&self, field: &str) -> (u64, &str) {
        let segments = split_field_path(field);
        let mut key = (self.base.0, self.base.1.as_str());
        for (name, hlc, origin) in &self.fields {
            let other = split_field_path(name);
            let overlaps = other.starts_with(&segments) || segments.starts_with(&other);
            if overlaps && (*hlc, origin.as_str()) > key {
                key = (*hlc, origin.as_str());
            }
        }
        key
    }

    /// Records a write of `field`, which replaces the versions of the fields inside it.
    fn set_field(&mut self, field: &str, hlc: u64, origin: &str) {
        let segments = split_field_path(field);
        self.fields
            .retain(|(name, _, _)| !split_field_path(name).starts_with(&segments));
        self.fields
            .push((field.to_string(), hlc, origin.to_string()));
        self.hlc = self.hlc.max(hlc);
    }
}

/// One registered edge, as read from the registry.
struct EdgeRecord {
    record: Document,
    id: String,
    service: ServiceType,
    query: InstanceQuery,
    uploaded_seq: u64,
}

impl Hub {
    pub fn new(storage: Storage) -> Hub {
        Hub {
            storage,
            lock: Mutex::new(HubMemory::default()),
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HubMemory> {
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one sync protocol command sent by an edge (`outpostSyncRegister`,
    /// `outpostSyncUpload`, `outpostSyncDownload`, `outpostSyncSnapshot`); the wire commands and
    /// in-process test links both come here.
    pub fn handle(&self, command: &Document) -> Result<Document> {
        let name = command
            .keys()
            .next()
            .map(String::as_str)
            .unwrap_or_default();
        let limit = || {
            read_u64(command, "limit")
                .ok()
                .and_then(|l| usize::try_from(l).ok())
                .unwrap_or(MAX_BATCH_COUNT)
        };
        match name {
            REGISTER => self.register(read_str(command, "registrationKey")?),
            UPLOAD => {
                let changes = command
                    .get_array("changes")
                    .map_err(|_| Error::protocol("'changes' must be an array"))?
                    .iter()
                    .map(|change| match change {
                        Bson::Document(change) => Change::from_document(change),
                        _ => Err(Error::protocol("each change must be a document")),
                    })
                    .collect::<Result<Vec<_>>>()?;
                self.upload(
                    read_str(command, "apiKey")?,
                    &changes,
                    read_u64(command, "lastSeq")?,
                )
            }
            DOWNLOAD => self.download(
                read_str(command, "apiKey")?,
                read_u64(command, "after")?,
                limit(),
            ),
            SNAPSHOT => self.snapshot(
                read_str(command, "apiKey")?,
                command.get_document("position").ok(),
                limit(),
            ),
            other => Err(Error::Coded {
                code: 59,
                message: format!("no such sync command: '{other}'"),
            }),
        }
    }

    /// Creates an edge instance; returns its id and one-time registration key (shown once:
    /// the hub keeps only its hash).
    pub fn create_edge(
        &self,
        name: &str,
        service: ServiceType,
        query: Option<&Document>,
        default_db: &str,
    ) -> Result<Document> {
        if name.is_empty() {
            return Err(Error::Coded {
                code: 2,
                message: "an edge instance needs a non-empty name".into(),
            });
        }
        let query = match query {
            Some(query) => query.clone(),
            None => doc! {"*": "TRUEPREDICATE"},
        };
        InstanceQuery::parse(&query, default_db)?;
        let id = ObjectId::new().to_hex();
        let registration_key = random_key()?;
        let now = DateTime::now();
        let record = doc! {
            "_id": &id,
            "name": name,
            "service": service.as_str(),
            "query": query.clone(),
            "queryVersion": 1_i64,
            "defaultDb": default_db,
            "registrationKeyHash": hash_key(&registration_key),
            "registrationKeyUsed": false,
            "apiKeyHash": Bson::Null,
            "created": now,
            "lastSeen": Bson::Null,
            "uploadedSeq": 0_i64,
        };
        let _guard = self.locked();
        self.put_edge(&record)?;
        Ok(doc! {
            "id": id,
            "name": name,
            "service": service.as_str(),
            "query": query,
            "defaultDb": default_db,
            "registration_key": registration_key,
        })
    }

    /// The hub history sequence at and below which no consumer needs the log any more: every
    /// registered edge has downloaded past it, and the hub's own local writes have versions up
    /// to it. Edges that never registered do not count: they start with a snapshot.
    pub fn history_floor(&self) -> Result<u64> {
        let memory = self.locked();
        let mut floor = match memory.versioned_seq {
            Some(seq) => seq,
            None => {
                match self
                    .storage
                    .by_id(HUB_DATABASE, META, &Bson::String("versions".into()))?
                {
                    Some(meta) => u64::try_from(meta.get_i64("seq").unwrap_or(0)).unwrap_or(0),
                    None => 0,
                }
            }
        };
        let edges = self.storage.find(
            HUB_DATABASE,
            EDGES,
            &FindOptions {
                filter: doc! {"registrationKeyUsed": true},
                ..FindOptions::default()
            },
        )?;
        for record in edges {
            let record = record?;
            let id = record.get_str("_id").unwrap_or_default();
            let persisted =
                u64::try_from(record.get_i64("downloadedSeq").unwrap_or(0)).unwrap_or(0);
            let downloaded = memory
                .downloaded
                .get(id)
                .copied()
                .unwrap_or(0)
                .max(persisted);
            floor = floor.min(downloaded);
        }
        Ok(floor)
    }

    /// Every edge instance, without key hashes.
    pub fn list_edges(&self) -> Result<Vec<Document>> {
        let found = self.storage.find(
            HUB_DATABASE,
            EDGES,
            &FindOptions {
                sort: Some(doc! {"created": 1}),
                ..FindOptions::default()
            },
        )?;
        let last_seen = self.locked().last_seen.clone();
        let mut edges = Vec::new();
        for record in found {
            let mut record = record?;
            let state = if record.get_bool("registrationKeyUsed").unwrap_or(false) {
                "active"
            } else {
                "pending"
            };
            record.remove("registrationKeyHash");
            record.remove("apiKeyHash");
            record.insert("state", state);
            if let Some(seen) = record.get_str("_id").ok().and_then(|id| last_seen.get(id)) {
                record.insert("lastSeen", *seen);
            }
            // `id` first, as `outpost hub edge create` prints it.
            let mut listed = doc! {"id": record.remove("_id").unwrap_or(Bson::Null)};
            listed.extend(record);
            edges.push(listed);
        }
        Ok(edges)
    }

    /// Changes an edge's instance query; the edge picks up the new version at its next
    /// download and re-fetches what now matches.
    pub fn set_edge_query(&self, id: &str, query: &Document) -> Result<Document> {
        let _guard = self.locked();
        let mut record = self.edge_by_id(id)?;
        let default_db = record.get_str("defaultDb").unwrap_or("test").to_string();
        InstanceQuery::parse(query, &default_db)?;
        let version = record
            .get_i64("queryVersion")
            .unwrap_or(1)
            .saturating_add(1);
        record.insert("query", query.clone());
        record.insert("queryVersion", version);
        self.put_edge(&record)?;
        Ok(doc! {"id": id, "query": query.clone(), "queryVersion": version})
    }

    /// Deletes an edge instance: its API key (or unused registration key) stops working at
    /// once, and its download cursor no longer holds back the trimming of the hub's history.
    /// The edge keeps serving its local data; its sync stops with an authentication error.
    pub fn delete_edge(&self, id: &str) -> Result<Document> {
        let mut memory = self.locked();
        self.edge_by_id(id)?;
        self.storage.apply_remote(
            HUB_DATABASE,
            EDGES,
            &Bson::String(id.to_string()),
            None,
            &Origin::Local,
        )?;
        memory.last_seen.remove(id);
        memory.downloaded.remove(id);
        Ok(doc! {"id": id, "deleted": true})
    }

    /// Exchanges a one-time registration key for an API key.
    pub fn register(&self, registration_key: &str) -> Result<Document> {
        let _guard = self.locked();
        let hash = hash_key(registration_key);
        let Some(mut record) = self.find_edge(doc! {"registrationKeyHash": &hash})? else {
            return Err(Error::Unauthorized(
                "the registration key is not valid: no edge instance has it".into(),
            ));
        };
        if record.get_bool("registrationKeyUsed").unwrap_or(false) {
            return Err(Error::Unauthorized(
                "the registration key was already used; create a new edge instance or re-key it \
                 at the hub"
                    .into(),
            ));
        }
        let api_key = random_key()?;
        record.insert("registrationKeyUsed", true);
        record.insert("apiKeyHash", hash_key(&api_key));
        record.insert("lastSeen", DateTime::now());
        self.put_edge(&record)?;
        Ok(doc! {
            "edgeId": record.get("_id").cloned().unwrap_or(Bson::Null),
            "apiKey": api_key,
            "service": record.get("service").cloned().unwrap_or(Bson::Null),
            "query": record.get("query").cloned().unwrap_or(Bson::Null),
            "queryVersion": record.get("queryVersion").cloned().unwrap_or(Bson::Null),
            "defaultDb": record.get("defaultDb").cloned().unwrap_or(Bson::Null),
        })
    }

    /// Applies an edge's batch of changes. Changes at or below the edge's `uploadedSeq` were
    /// applied before and are ignored. Conflicts are last-writer-wins per document: a change
    /// applies only when its (hlc, delete, instance id) is greater than the document's recorded
    /// version, so deletes win ties. A change that loses is answered in `superseded` with the
    /// hub's winning document (or a delete), which the edge applies, so both sides converge
    /// whatever the order of uploads and downloads. Returns
    /// `{ackSeq, applied, ignored, superseded}`.
    ///
    /// A change the hub's storage refuses (a duplicate key in one of the hub's unique indexes,
    /// a document too large) does not hold the rest back: it is found, left out, reported in
    /// `refused` with the reason, and answered with the hub's version of its document (a
    /// compensating write, as Atlas Device Sync does), so the edge converges to the hub.
    pub fn upload(&self, api_key: &str, changes: &[Change], last_seq: u64) -> Result<Document> {
        let mut memory = self.locked();
        let edge = self.authenticate(api_key)?;
        self.catch_up_all(&mut memory)?;
        let mut refused: Vec<(usize, String)> = Vec::new();
        loop {
            let attempt = Attempt {
                changes,
                last_seq,
                refused: &refused,
                prefix: changes.len(),
                dry_run: false,
            };
            let error = match self.apply_upload(&mut memory, &edge, &attempt) {
                Err(Error::Storage(error)) if is_document_error(&error) => error,
                other => return other,
            };
            if refused.len() >= changes.len() {
                return Err(Error::Storage(error));
            }
            let (position, reason) = self.find_refused(&mut memory, &edge, &attempt, error)?;
            tracing::warn!(
                edge = %edge.id,
                ns = %changes[position].ns,
                id = %changes[position].id,
                reason = %reason,
                "the hub refused an uploaded change; the edge gets the hub's version back"
            );
            refused.push((position, reason));
        }
    }

    /// The change that makes `attempt` fail: the last change of the shortest failing prefix
    /// (by bisection, each step a dry run), with its error. When even no change fails, the
    /// fault is not in the changes: that error is returned.
    fn find_refused(
        &self,
        memory: &mut HubMemory,
        edge: &EdgeRecord,
        attempt: &Attempt,
        error: outpost_storage::Error,
    ) -> Result<(usize, String)> {
        let nothing = Attempt {
            prefix: 0,
            dry_run: true,
            ..*attempt
        };
        self.apply_upload(memory, edge, &nothing)?;
        let (mut passes, mut fails) = (0, attempt.changes.len());
        let mut reason = error.to_string();
        while fails - passes > 1 {
            let middle = passes + (fails - passes) / 2;
            let dry = Attempt {
                prefix: middle,
                dry_run: true,
                ..*attempt
            };
            match self.apply_upload(memory, edge, &dry) {
                Ok(_) => passes = middle,
                Err(Error::Storage(error)) if is_document_error(&error) => {
                    fails = middle;
                    reason = error.to_string();
                }
                Err(other) => return Err(other),
            }
        }
        Ok((fails - 1, reason))
    }

    /// Applies `attempt.changes[..attempt.prefix]`, leaving out the refused ones, as one batch:
    /// committed, or only checked (`dry_run`, which returns an empty document).
    fn apply_upload(
        &self,
        memory: &mut HubMemory,
        edge: &EdgeRecord,
        attempt: &Attempt,
    ) -> Result<Document> {
        // Everything below commits as one batch: the documents, their versions, the edge's
        // `uploadedSeq`. A failure or crash part way applies nothing, and the edge sends the
        // batch again.
        let mut batch = self.storage.remote_batch();
        // What is left since `catch_up_all` (writes made in between) is small.
        let (versioned, _) = self.catch_up_versions(memory, &mut batch, usize::MAX)?;
        let mut applied = 0_i64;
        let mut ignored = 0_i64;
        // Documents the edge must get the hub's version of: (namespace, `_id`, even when the
        // hub's version is the edge's own write).
        let mut lost: Vec<(String, Bson, bool)> = Vec::new();
        let mut refused = Vec::new();
        let origin = Origin::Peer(edge.id.clone());
        for (position, change) in attempt.changes.iter().enumerate().take(attempt.prefix) {
            if let Some((_, reason)) = attempt.refused.iter().find(|(p, _)| *p == position) {
                ignored += 1;
                refused.push(Bson::Document(doc! {
                    "ns": &change.ns,
                    "id": change.id.clone(),
                    "reason": reason,
                }));
                lost.push((change.ns.clone(), change.id.clone(), true));
                continue;
            }
            // Sequence 0 marks a document offered outside the history log (after a query
            // change); last-writer-wins alone decides about it.
            if change.seq != 0 && change.seq <= edge.uploaded_seq {
                // Applied (or refused) before and the answer was lost: answer again with the
                // winner when it is not this edge's write, or with a delete when the hub
                // never took the document (it was refused).
                // (The hub keeps no record of what it refused: a document whose state at the hub
                // is not the change's may be a refused change, and gets the hub's version.)
                ignored += 1;
                let (db, coll) = split_namespace(&change.ns)?;
                let differs = batch.get(db, coll, &change.id)? != change.doc;
                let other_writer = self
                    .version(&batch, &change.ns, &change.id)?
                    .is_some_and(|v| v.origin != edge.id);
                if differs || other_writer {
                    lost.push((change.ns.clone(), change.id.clone(), differs));
                }
                continue;
            }
            batch.observe_hlc(change.hlc);
            let (db, coll) = split_namespace(&change.ns)?;
            if change.drop {
                if is_internal_namespace(db, coll) || !edge.query.is_synced(db, coll) {
                    ignored += 1;
                    continue;
                }
                let survivors = self.apply_edge_drop(&mut batch, edge, change)?;
                lost.extend(
                    survivors
                        .into_iter()
                        .map(|id| (change.ns.clone(), id, false)),
                );
                applied += 1;
                continue;
            }
            // The edge filtered already; the hub checks again so a misbehaving edge cannot write
            // outside its query.
            let allowed = !is_internal_namespace(db, coll)
                && edge.query.is_synced(db, coll)
                && match &change.doc {
                    Some(doc) => {
                        check_id(edge.service, doc).is_ok()
                            && edge.query.matches(db, coll, doc)? == QueryMatch::Matches
                    }
                    None => check_id(edge.service, &doc! {"_id": change.id.clone()}).is_ok(),
                };
            if !allowed {
                tracing::warn!(edge = %edge.id, ns = %change.ns, id = %change.id, "hub refused an uploaded change outside the edge's query");
                ignored += 1;
                continue;
            }
            let current = self.version(&batch, &change.ns, &change.id)?;
            let stored = batch.get(db, coll, &change.id)?;
            match (&change.doc, stored, current) {
                // An update of a stored document: last-writer-wins per field (down to fields of
                // embedded documents).
                (Some(doc), Some(stored), current) => {
                    let mut version = current.unwrap_or_else(|| Version::whole(0, false, ""));
                    let fields: Vec<String> = match &change.fields {
                        Some(fields) => fields.clone(),
                        None => doc
                            .keys()
                            .chain(stored.keys().filter(|k| !doc.contains_key(*k)))
                            .cloned()
                            .collect(),
                    };
                    let mut merged = stored.clone();
                    let (mut won, mut lost_some) = (false, false);
                    let incoming = (change.hlc, edge.id.as_str());
                    for field in &fields {
                        let segments = split_field_path(field);
                        if segments.first().is_some_and(|s| s == "_id") {
                            continue;
                        }
                        // `$inc` merges as a counter: the delta is added to the hub's value,
                        // whatever the clocks say, so two +1s give +2.
                        let delta = change.increments.as_ref().and_then(|inc| inc.get(field));
                        let base = field_at(&stored, &segments)
                            .cloned()
                            .unwrap_or(Bson::Int32(0));
                        if let Some(sum) = delta.and_then(|d| add_numbers(&base, d)) {
                            if set_field_at(&mut merged, &segments, Some(sum)) {
                                if incoming > version.field_key(field) {
                                    version.set_field(field, change.hlc, &edge.id);
                                }
                                won = true;
                                continue;
                            }
                        }
                        if incoming <= version.field_key(field) {
                            lost_some = true;
                            continue;
                        }
                        let value = field_at(doc, &segments).cloned();
                        if set_field_at(&mut merged, &segments, value) {
                            version.set_field(field, change.hlc, &edge.id);
                            won = true;
                            continue;
                        }
                        // The path crosses a value that is not a document at the hub (another
                        // write changed its shape): the edge's whole top-level field decides.
                        let top = &segments[..1];
                        let top_field = join_field_path(top);
                        if incoming > version.field_key(&top_field) {
                            set_field_at(&mut merged, top, doc.get(&top[0]).cloned());
                            version.set_field(&top_field, change.hlc, &edge.id);
                            won = true;
                        } else {
                            lost_some = true;
                        }
                    }
                    if !won {
                        // This edge no longer holds the hub's version (an earlier change of
                        // the same batch may have claimed it did): it gets the winner back.
                        if version.origin == edge.id {
                            version.origin = HUB_INSTANCE.to_string();
                            put_version(&mut batch, &change.ns, &change.id, &version);
                        }
                        ignored += 1;
                        lost.push((change.ns.clone(), change.id.clone(), false));
                        continue;
                    }
                    if merged == *doc && !lost_some {
                        version.origin = edge.id.clone();
                    } else {
                        // The edge does not hold this merge: it gets it back below.
                        version.origin = HUB_INSTANCE.to_string();
                        lost.push((change.ns.clone(), change.id.clone(), false));
                    }
                    version.deleted = false;
                    batch.put(db, coll, &change.id, Some(merged), &origin);
                    put_version(&mut batch, &change.ns, &change.id, &version);
                }
                // A delete, or a document the hub does not hold. Deletes win over concurrent
                // updates: an update or replacement of a document another instance deleted
                // was made without seeing the delete, so it loses whatever its clock; a delete
                // wins over a stored document's versions whatever their clocks. Otherwise
                // (a new document, or one inserted again after a delete) the later clock wins.
                (_, _, current) => {
                    let deleting = change.doc.is_none();
                    let held_deleted = current.as_ref().is_some_and(|c| c.deleted);
                    let loses = if deleting {
                        held_deleted
                            && current.as_ref().is_some_and(|c| {
                                Version::whole(change.hlc, true, edge.id.as_str()).key() <= c.key()
                            })
                    } else if held_deleted
                        && !change.insert
                        && current.as_ref().is_some_and(|c| c.origin != edge.id)
                    {
                        // Another instance's delete. (After its own delete, an instance that
                        // writes the document again is causally later: its clock decides.)
                        true
                    } else {
                        let incoming = Version::whole(change.hlc, false, edge.id.as_str());
                        current.as_ref().is_some_and(|c| incoming.key() <= c.key())
                    };
                    if loses {
                        if let Some(mut version) = current.filter(|c| c.origin == edge.id) {
                            version.origin = HUB_INSTANCE.to_string();
                            put_version(&mut batch, &change.ns, &change.id, &version);
                        }
                        ignored += 1;
                        lost.push((change.ns.clone(), change.id.clone(), false));
                        continue;
                    }
                    // The version keeps the change's own clock: a later insert by the same
                    // instance (which saw this delete) must compare as later.
                    let incoming = Version::whole(change.hlc, deleting, edge.id.as_str());
                    batch.put(db, coll, &change.id, change.doc.clone(), &origin);
                    put_version(&mut batch, &change.ns, &change.id, &incoming);
                }
            }
            applied += 1;
        }
        // The winners of the documents whose changes lost, as they stand after the whole batch
        // (a later change of the same batch may have won after all).
        let mut superseded = Vec::new();
        // Each document once, forced if any of its entries is.
        let mut documents: Vec<(String, Bson, bool)> = Vec::new();
        let mut positions: HashMap<(String, Vec<u8>), usize> = HashMap::new();
        for (ns, id, force) in lost {
            let key = (ns.clone(), keyenc::encode(&id));
            match positions.get(&key) {
                Some(&p) => documents[p].2 |= force,
                None => {
                    positions.insert(key, documents.len());
                    documents.push((ns, id, force));
                }
            }
        }
        for (ns, id, force) in documents {
            let (db, coll) = split_namespace(&ns)?;
            let key = keyenc::encode(&id);
            let same_document = |c: &&Change| c.ns == ns && keyenc::encode(&c.id) == key;
            let winner = match self.version(&batch, &ns, &id)? {
                Some(winner) if winner.origin != edge.id || force => winner,
                Some(_) => continue,
                // A document the hub never took (its change was refused, now or in a batch
                // whose answer was lost): the edge deletes its copy, at the change's clock so
                // later local writes stay.
                None if batch.get(db, coll, &id)?.is_none() => {
                    match attempt.changes.iter().rfind(same_document) {
                        Some(change) => Version::whole(change.hlc, true, HUB_INSTANCE),
                        None => continue,
                    }
                }
                None => continue,
            };
            // A winner the edge's query does not sync reaches the edge as a delete.
            let doc = batch.get(db, coll, &id)?.filter(|doc| {
                check_id(edge.service, doc).is_ok()
                    && edge.query.matches(db, coll, doc).ok() == Some(QueryMatch::Matches)
            });
            let change = Change {
                seq: 0,
                ns,
                id,
                doc,
                hlc: winner.hlc,
                origin: winner.origin,
                drop: false,
                fields: None,
                increments: None,
                insert: false,
            };
            superseded.push(Bson::Document(change.to_document()));
        }
        let ack = attempt.last_seq.max(edge.uploaded_seq);
        let mut record = edge.record.clone();
        record.insert("uploadedSeq", u64_to_i64(ack));
        record.insert("lastSeen", DateTime::now());
        stage_edge(&mut batch, &record);
        if attempt.dry_run {
            batch.check()?;
            return Ok(Document::new());
        }
        batch.commit()?;
        memory.versioned_seq = Some(versioned);
        // The edge forgets what it uploaded once acknowledged: it must be on disk first.
        self.storage.flush()?;
        Ok(doc! {
            "ackSeq": u64_to_i64(ack),
            "applied": applied,
            "ignored": ignored,
            "superseded": superseded,
            "refused": refused,
        })
    }

    /// Applies a collection drop made at an edge: deletes each document of the collection that
    /// the edge's query syncs (the documents the edge held) and that was last written before the
    /// drop by the clock. Returns the `_id`s of matching documents written after the drop: they
    /// stay, and go back to the edge.
    fn apply_edge_drop(
        &self,
        batch: &mut RemoteBatch,
        edge: &EdgeRecord,
        change: &Change,
    ) -> Result<Vec<Bson>> {
        let (db, coll) = split_namespace(&change.ns)?;
        let origin = Origin::Peer(edge.id.clone());
        batch.observe_hlc(change.hlc);
        let mut ids = batch.staged_ids(db, coll);
        let stored = self.storage.find(
            db,
            coll,
            &FindOptions {
                projection: Some(doc! {"_id": 1}),
                ..FindOptions::default()
            },
        )?;
        for doc in stored {
            ids.push(doc?.get("_id").cloned().unwrap_or(Bson::Null));
        }
        let mut seen = HashSet::new();
        let mut survivors = Vec::new();
        for id in ids {
            if !seen.insert(keyenc::encode(&id)) {
                continue;
            }
            let Some(doc) = batch.get(db, coll, &id)? else {
                continue;
            };
            let synced = check_id(edge.service, &doc).is_ok()
                && edge.query.matches(db, coll, &doc)? == QueryMatch::Matches;
            if !synced {
                continue;
            }
            let written_later = self
                .version(batch, &change.ns, &id)?
                .is_some_and(|v| !v.deleted && v.hlc > change.hlc);
            if written_later {
                survivors.push(id);
                continue;
            }
            batch.put(db, coll, &id, None, &origin);
            // Recorded as the hub's, not the edge's: the delete is sent back to the edge too,
            // which may have downloaded the document again after its drop.
            let deleted = Version::whole(change.hlc, true, HUB_INSTANCE);
            put_version(batch, &change.ns, &id, &deleted);
        }
        Ok(survivors)
    }

    /// Records versions for the hub's own local writes (mongosh or drivers on the hub) made
    /// since the last call, so they take part in last-writer-wins. A local write is the newest
    /// version of its document by definition (it replaced whatever was there); the hub's clock
    /// has observed every uploaded change, so its timestamp is later too.
    /// Stages them in `batch`; returns the history sequence they are recorded up to, for
    /// `HubMemory::versioned_seq` once the batch is committed.
    /// At most `limit` history entries are read; returns also whether that was all of them.
    fn catch_up_versions(
        &self,
        memory: &HubMemory,
        batch: &mut RemoteBatch,
        limit: usize,
    ) -> Result<(u64, bool)> {
        let from = match memory.versioned_seq {
            Some(seq) => seq,
            None => match batch.get(HUB_DATABASE, META, &Bson::String("versions".into()))? {
                Some(meta) => u64::try_from(meta.get_i64("seq").unwrap_or(0)).unwrap_or(0),
                None => 0,
            },
        };
        let mut last = from;
        let mut recorded = 0;
        let entries: Vec<_> = self
            .storage
            .history_from(from.saturating_add(1))
            .take(limit)
            .collect();
        let complete = entries.len() < limit;
        for entry in entries {
            let entry = entry?;
            last = entry.seq;
            let Ok((db, coll)) = split_namespace(&entry.ns) else {
                continue;
            };
            if is_internal_namespace(db, coll) {
                continue;
            }
            if entry.op == HistoryOp::Drop {
                // Every document of the collection is deleted as of the drop: an older change
                // uploaded later must not bring one back.
                record_drop(batch, &entry.ns, entry.hlc);
                recorded += 1;
                continue;
            }
            if entry.origin != Origin::Local {
                continue;
            }
            let version = match (&entry.op, &entry.changed_fields) {
                (HistoryOp::Update, Some(fields)) => {
                    let mut version = self
                        .version(batch, &entry.ns, &entry.id)?
                        .filter(|v| !v.deleted)
                        .unwrap_or_else(|| Version::whole(0, false, HUB_INSTANCE));
                    for field in fields {
                        version.set_field(field, entry.hlc, HUB_INSTANCE);
                    }
                    version.origin = HUB_INSTANCE.to_string();
                    version
                }
                (op, _) => Version::whole(entry.hlc, *op == HistoryOp::Delete, HUB_INSTANCE),
            };
            put_version(batch, &entry.ns, &entry.id, &version);
            recorded += 1;
        }
        if recorded > 0 {
            // Only when something was recorded: this write is itself a (skipped) history entry.
            batch.put(
                HUB_DATABASE,
                META,
                &Bson::String("versions".into()),
                Some(doc! {"_id": "versions", "seq": u64_to_i64(last)}),
                &Origin::Local,
            );
        }
        Ok((last, complete))
    }

    /// Records versions for every hub-local write not versioned yet, committing every
    /// `CATCH_UP_CHUNK` history entries: after a large import at the hub, no single batch (and
    /// no single hold of the writer lock) covers all of it.
    fn catch_up_all(&self, memory: &mut HubMemory) -> Result<()> {
        loop {
            let mut batch = self.storage.remote_batch();
            let (versioned, complete) =
                self.catch_up_versions(memory, &mut batch, CATCH_UP_CHUNK)?;
            batch.commit()?;
            memory.versioned_seq = Some(versioned);
            if complete {
                return Ok(());
            }
        }
    }

    /// The hub's changes after history sequence `after` that concern the edge, as document
    /// states: for each document a history entry touched (in a namespace the edge's query
    /// syncs), its current version at the hub, an upsert when it matches the query and a delete
    /// when it is gone or moved out of the query. Documents whose current version the edge
    /// wrote itself are skipped (the edge already has it, or something newer). Returns
    /// `{changes, next, lastSeq, queryVersion, query}`; the edge stores `next` as its download
    /// cursor.
    pub fn download(&self, api_key: &str, after: u64, limit: usize) -> Result<Document> {
        let (edge, horizon) = {
            let mut memory = self.locked();
            let edge = self.authenticate(api_key)?;
            self.catch_up_all(&mut memory)?;
            self.touch(&mut memory, &edge, after)?;
            // Every entry up to here has a version; later ones wait for the next request.
            (edge, self.storage.last_seq())
        };
        let limit = limit.clamp(1, MAX_BATCH_COUNT);
        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        let mut bytes = 0;
        let mut next = after;
        for (scanned, entry) in self
            .storage
            .history_from(after.saturating_add(1))
            .enumerate()
        {
            let entry = entry?;
            if entry.seq > horizon
                || scanned >= DOWNLOAD_SCAN_LIMIT
                || changes.len() >= limit
                || bytes >= MAX_BATCH_BYTES
            {
                break;
            }
            next = entry.seq;
            let Ok((db, coll)) = split_namespace(&entry.ns) else {
                continue;
            };
            if is_internal_namespace(db, coll) || !edge.query.is_synced(db, coll) {
                continue;
            }
            if entry.op == HistoryOp::Drop {
                // The edge removes its copies.
                let change = Change {
                    seq: entry.seq,
                    ns: entry.ns.clone(),
                    id: Bson::Null,
                    doc: None,
                    hlc: entry.hlc,
                    origin: HUB_INSTANCE.to_string(),
                    drop: true,
                    fields: None,
                    increments: None,
                    insert: false,
                };
                // Earlier changes of this batch to the collection are moot (the drop removes
                // them); later ones are sent again.
                changes.retain(|earlier: &Bson| {
                    earlier.as_document().and_then(|d| d.get_str("ns").ok())
                        != Some(change.ns.as_str())
                });
                seen.retain(|(ns, _)| *ns != change.ns);
                bytes += change.approximate_bytes();
                changes.push(Bson::Document(change.to_document()));
                // Documents of the edge's own that won over the drop (written later) exist at
                // the hub now, but the edge is never sent its own writes: send them back after
                // the drop so the edge keeps them.
                for doc in self.storage.find(db, coll, &FindOptions::default())? {
                    let doc = doc?;
                    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
                    let Some(version) = self.version(&self.storage, &entry.ns, &id)? else {
                        continue;
                    };
                    if version.origin != edge.id || version.hlc <= entry.hlc {
                        continue;
                    }
                    seen.insert((entry.ns.clone(), keyenc::encode(&id)));
                    let survivor = Change {
                        seq: entry.seq,
                        ns: entry.ns.clone(),
                        id,
                        doc: Some(doc),
                        hlc: version.hlc,
                        origin: version.origin,
                        drop: false,
                        fields: None,
                        increments: None,
                        insert: false,
                    };
                    bytes += survivor.approximate_bytes();
                    changes.push(Bson::Document(survivor.to_document()));
                }
                continue;
            }
            let key = (entry.ns.clone(), keyenc::encode(&entry.id));
            if seen.contains(&key) {
                continue;
            }
            let version = self.version(&self.storage, &entry.ns, &entry.id)?;
            if version.as_ref().is_some_and(|v| v.origin == edge.id) {
                continue;
            }
            let doc = match self.storage.by_id(db, coll, &entry.id)? {
                Some(doc) => {
                    let valid = check_id(edge.service, &doc).is_ok();
                    let matches = valid
                        && edge.query.matches(db, coll, &doc).ok() == Some(QueryMatch::Matches);
                    let inserted_by_another = entry.op == HistoryOp::Insert
                        && entry.origin != Origin::Peer(edge.id.clone());
                    if matches {
                        Some(doc)
                    } else if inserted_by_another || !valid {
                        // Not synced to this edge by this entry. A later entry of the same
                        // document in this window may still have been (so the document is not
                        // marked as seen).
                        continue;
                    } else {
                        // Moved out of the query: the edge drops its copy, if it has one.
                        None
                    }
                }
                None => None,
            };
            seen.insert(key);
            let change = Change {
                seq: entry.seq,
                ns: entry.ns,
                id: entry.id,
                doc,
                hlc: version.as_ref().map_or(entry.hlc, |v| v.hlc),
                origin: version.map_or_else(|| HUB_INSTANCE.to_string(), |v| v.origin),
                drop: false,
                fields: None,
                increments: None,
                insert: false,
            };
            bytes += change.approximate_bytes();
            changes.push(Bson::Document(change.to_document()));
        }
        Ok(doc! {
            "changes": changes,
            "next": u64_to_i64(next),
            "lastSeq": u64_to_i64(horizon),
            "queryVersion": edge.record.get_i64("queryVersion").unwrap_or(1),
            "query": edge.query.to_document(),
        })
    }

    /// A page of every document the edge's query matches, namespace by namespace in name
    /// order, `_id` order within. `position` is `{ns, after}` from the previous page (absent
    /// for the first; `after` is the last `_id` it examined). Returns `{docs: [{ns, doc}], position, done, hubSeq}`: the edge applies
    /// the pages, then downloads from `hubSeq` (the hub's last sequence when the snapshot was
    /// asked for, sent back with each page).
    pub fn snapshot(
        &self,
        api_key: &str,
        position: Option<&Document>,
        limit: usize,
    ) -> Result<Document> {
        let edge = {
            let _guard = self.locked();
            self.authenticate(api_key)?
        };
        let limit = limit.clamp(1, MAX_BATCH_COUNT);
        let hub_seq = match position.and_then(|p| p.get_i64("hubSeq").ok()) {
            Some(seq) => seq,
            None => u64_to_i64(self.storage.last_seq()),
        };
        let mut namespaces: Vec<String> = Vec::new();
        for database in self.storage.list_databases() {
            for collection in self.storage.list_collections(&database.name) {
                if !collection.is_view && edge.query.is_synced(&database.name, &collection.name) {
                    namespaces.push(format!("{}.{}", database.name, collection.name));
                }
            }
        }
        namespaces.sort();
        let start_ns = position
            .and_then(|p| p.get_str("ns").ok())
            .map(str::to_string);
        let start_after = position.and_then(|p| p.get("after"));
        let mut docs = Vec::new();
        let mut bytes = 0;
        let mut scanned = 0;
        for ns in namespaces
            .iter()
            .filter(|ns| start_ns.as_ref().is_none_or(|start| *ns >= start))
        {
            let after = start_after.filter(|_| start_ns.as_ref() == Some(ns));
            let (db, coll) = split_namespace(ns)?;
            let mut last: Option<Bson> = None;
            for doc in self.storage.documents_after(db, coll, after) {
                // A page ends when full, or after scanning SNAPSHOT_SCAN_LIMIT documents (so a
                // page over a large collection the query barely matches still answers quickly).
                if docs.len() >= limit || bytes >= MAX_BATCH_BYTES || scanned >= SNAPSHOT_SCAN_LIMIT
                {
                    if let Some(last) = last.or_else(|| after.cloned()) {
                        return Ok(doc! {
                            "docs": docs,
                            "position": {"ns": ns, "after": last, "hubSeq": hub_seq},
                            "done": false,
                            "hubSeq": hub_seq,
                        });
                    }
                    return Ok(doc! {
                        "docs": docs,
                        "position": {"ns": ns, "hubSeq": hub_seq},
                        "done": false,
                        "hubSeq": hub_seq,
                    });
                }
                let doc = doc?;
                scanned += 1;
                last = doc.get("_id").cloned();
                let synced = check_id(edge.service, &doc).is_ok()
                    && edge.query.matches(db, coll, &doc)? == QueryMatch::Matches;
                if !synced {
                    continue;
                }
                bytes += bson::to_vec(&doc).map_or(0, |b| b.len());
                docs.push(Bson::Document(doc! {"ns": ns, "doc": doc}));
            }
        }
        Ok(doc! {"docs": docs, "done": true, "hubSeq": hub_seq})
    }

    /// The last-writer-wins version of a document, if any write to it was versioned.
    fn version(&self, docs: &impl Documents, ns: &str, id: &Bson) -> Result<Option<Version>> {
        let found = docs.by_id(
            HUB_DATABASE,
            VERSIONS,
            &Bson::Document(doc! {"ns": ns, "id": id.clone()}),
        )?;
        let clock =
            |d: &Document, key: &str| u64::try_from(d.get_i64(key).unwrap_or(0)).unwrap_or(0);
        let version = found.map(|record| {
            let hlc = clock(&record, "hlc");
            let origin = record.get_str("origin").unwrap_or_default().to_string();
            let base = match record.get_document("base") {
                Ok(base) => (
                    clock(base, "hlc"),
                    base.get_str("origin").unwrap_or_default().to_string(),
                ),
                Err(_) => (hlc, origin.clone()),
            };
            let fields = record
                .get_array("fields")
                .map(|fields| {
                    fields
                        .iter()
                        .filter_map(Bson::as_document)
                        .map(|f| {
                            (
                                f.get_str("f").unwrap_or_default().to_string(),
                                clock(f, "hlc"),
                                f.get_str("origin").unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Version {
                hlc,
                deleted: record.get_bool("deleted").unwrap_or(false),
                origin,
                fields,
                base,
            }
        });
        // A later drop of the collection deletes the document too.
        let dropped = docs
            .by_id(HUB_DATABASE, DROPS, &Bson::String(ns.to_string()))?
            .map(|record| {
                Version::whole(
                    u64::try_from(record.get_i64("hlc").unwrap_or(0)).unwrap_or(0),
                    true,
                    HUB_INSTANCE,
                )
            });
        Ok(match (version, dropped) {
            (Some(version), Some(dropped)) if dropped.key() > version.key() => Some(dropped),
            (None, dropped) => dropped,
            (version, _) => version,
        })
    }

    fn authenticate(&self, api_key: &str) -> Result<EdgeRecord> {
        let record = self
            .find_edge(doc! {"apiKeyHash": hash_key(api_key)})?
            .ok_or_else(|| {
                Error::Unauthorized(
                    "the API key is not valid (the edge instance was deleted or re-keyed at the \
                     hub); register the edge again with a new registration key"
                        .into(),
                )
            })?;
        let id = record.get_str("_id").unwrap_or_default().to_string();
        let service: ServiceType = record.get_str("service").unwrap_or("edge").parse()?;
        let default_db = record.get_str("defaultDb").unwrap_or("test");
        let query = InstanceQuery::parse(
            record.get_document("query").unwrap_or(&Document::new()),
            default_db,
        )?;
        let uploaded_seq = u64::try_from(record.get_i64("uploadedSeq").unwrap_or(0)).unwrap_or(0);
        Ok(EdgeRecord {
            record,
            id,
            service,
            query,
            uploaded_seq,
        })
    }

    /// Notes that `edge` was heard from now, downloading after history sequence `downloaded`.
    fn touch(&self, memory: &mut HubMemory, edge: &EdgeRecord, downloaded: u64) -> Result<()> {
        let now = DateTime::now();
        let persisted = edge.record.get_datetime("lastSeen").ok().copied();
        let stale = persisted.is_none_or(|seen| {
            now.timestamp_millis()
                .saturating_sub(seen.timestamp_millis())
                > LAST_SEEN_PERSIST_MS
        });
        memory.last_seen.insert(edge.id.clone(), now);
        memory.downloaded.insert(edge.id.clone(), downloaded);
        if stale {
            let mut record = edge.record.clone();
            record.insert("lastSeen", now);
            record.insert("downloadedSeq", u64_to_i64(downloaded));
            self.put_edge(&record)?;
        }
        Ok(())
    }

    fn edge_by_id(&self, id: &str) -> Result<Document> {
        self.find_edge(doc! {"_id": id})?
            .ok_or_else(|| Error::Coded {
                code: 2,
                message: format!("no edge instance with id '{id}'"),
            })
    }

    fn find_edge(&self, filter: Document) -> Result<Option<Document>> {
        let mut found = self.storage.find(
            HUB_DATABASE,
            EDGES,
            &FindOptions {
                filter,
                limit: 1,
                ..FindOptions::default()
            },
        )?;
        Ok(found.next().transpose()?)
    }

    /// Stores an edge record on its own (a registry change outside an upload).
    fn put_edge(&self, record: &Document) -> Result<()> {
        let id = record.get("_id").cloned().unwrap_or(Bson::Null);
        self.storage.apply_remote(
            HUB_DATABASE,
            EDGES,
            &id,
            Some(record.clone()),
            &Origin::Local,
        )?;
        Ok(())
    }
}

/// One way of applying an upload (see [`Hub::upload`]).
#[derive(Clone, Copy)]
struct Attempt<'a> {
    changes: &'a [Change],
    last_seq: u64,
    /// Changes left out, by position, with the reason.
    refused: &'a [(usize, String)],
    /// Only the first `prefix` changes are applied.
    prefix: usize,
    /// Check the batch instead of committing it.
    dry_run: bool,
}

/// Whether a storage error belongs to one change (the hub can leave it out and apply the rest)
/// rather than to the hub itself (a disk error, corruption).
fn is_document_error(error: &outpost_storage::Error) -> bool {
    !matches!(
        error,
        outpost_storage::Error::Engine(_) | outpost_storage::Error::Corrupt(_)
    )
}

/// Where the hub reads documents by `_id`: committed storage, or an open batch (which sees its
/// own staged writes).
trait Documents {
    fn by_id(&self, db: &str, coll: &str, id: &Bson) -> Result<Option<Document>>;
}

impl Documents for Storage {
    fn by_id(&self, db: &str, coll: &str, id: &Bson) -> Result<Option<Document>> {
        let mut found = self.find(
            db,
            coll,
            &FindOptions {
                filter: doc! {"_id": id.clone()},
                limit: 1,
                ..FindOptions::default()
            },
        )?;
        Ok(found.next().transpose()?)
    }
}

impl Documents for RemoteBatch<'_> {
    fn by_id(&self, db: &str, coll: &str, id: &Bson) -> Result<Option<Document>> {
        Ok(self.get(db, coll, id)?)
    }
}

/// Records that `ns` was dropped at `hlc`: every document of it counts as deleted then (see
/// [`Hub::version`]), so an older change uploaded later does not bring one back.
fn record_drop(batch: &mut RemoteBatch, ns: &str, hlc: u64) {
    batch.put(
        HUB_DATABASE,
        DROPS,
        &Bson::String(ns.to_string()),
        Some(doc! {"_id": ns, "hlc": u64_to_i64(hlc)}),
        &Origin::Local,
    );
}

fn put_version(batch: &mut RemoteBatch, ns: &str, id: &Bson, version: &Version) {
    let version_id = doc! {"ns": ns, "id": id.clone()};
    batch.put(
        HUB_DATABASE,
        VERSIONS,
        &Bson::Document(version_id.clone()),
        Some(doc! {
            "_id": version_id,
            "hlc": u64_to_i64(version.hlc),
            "origin": &version.origin,
            "deleted": version.deleted,
            "base": {"hlc": u64_to_i64(version.base.0), "origin": &version.base.1},
            "fields": version
                .fields
                .iter()
                .map(|(f, hlc, origin)| doc! {"f": f, "hlc": u64_to_i64(*hlc), "origin": origin})
                .collect::<Vec<_>>(),
        }),
        &Origin::Local,
    );
}

/// Stages an edge record in `batch`.
fn stage_edge(batch: &mut RemoteBatch, record: &Document) {
    let id = record.get("_id").cloned().unwrap_or(Bson::Null);
    batch.put(
        HUB_DATABASE,
        EDGES,
        &id,
        Some(record.clone()),
        &Origin::Local,
    );
}

/// The value at a field path, through embedded documents only.
fn field_at<'a>(doc: &'a Document, segments: &[String]) -> Option<&'a Bson> {
    let (last, parents) = segments.split_last()?;
    let mut current = doc;
    for segment in parents {
        current = current.get_document(segment).ok()?;
    }
    current.get(last)
}

/// Sets (`Some`) or removes (`None`) the value at a field path, creating the embedded documents
/// on the way. `false` when the path crosses a value that is not a document.
fn set_field_at(doc: &mut Document, segments: &[String], value: Option<Bson>) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = doc;
    for segment in parents {
        if !current.contains_key(segment) {
            if value.is_none() {
                return true;
            }
            current.insert(segment.clone(), Document::new());
        }
        match current.get_mut(segment) {
            Some(Bson::Document(inner)) => current = inner,
            // Nothing to remove under a value that is not a document.
            _ => return value.is_none(),
        }
    }
    match value {
        Some(value) => {
            current.insert(last.clone(), value);
        }
        None => {
            current.remove(last);
        }
    }
    true
}
