//! Applying an edge's upload: idempotent by the edge's sequence numbers, merged by
//! [`crate::merge`], committed as one batch, with changes the hub's storage refuses left out
//! and answered with the hub's version.

use std::collections::{HashMap, HashSet};

use bson::{doc, Bson, DateTime, Document};
use outpost_storage::value::keyenc;
use outpost_storage::Origin;

use super::records::{Version, HUB_INSTANCE};
use super::store::Versions;
use super::{Edge, Hub, HubBatch, HubMemory, HubStore, SyncSession};
use crate::delta::project_like;
use crate::error::{Error, Result};
use crate::id_rules::check_id;
use crate::instance_query::{is_internal_namespace, QueryMatch};
use crate::merge::{merge_update, whole_write_loses};
use crate::protocol::messages::{DocumentRef, Refused, TimeseriesCollection, UploadReply};
use crate::protocol::{
    check_received_change, split_namespace, Change, Op, Update, MAX_BATCH_BYTES, MAX_BATCH_COUNT,
};

/// The most bytes of documents one upload may carry: a batch's bytes, plus the one document
/// (at most 16 MiB) that crossed the limit.
const MAX_UPLOAD_BYTES: usize = MAX_BATCH_BYTES + 17 * 1024 * 1024;

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

/// What applying the changes of an upload decided, before the answer is built.
#[derive(Default)]
struct Applied {
    applied: i64,
    ignored: i64,
    /// Documents the edge must get the hub's version of: (namespace, `_id`, even when the
    /// hub's version is the edge's own write).
    lost: Vec<(String, Bson, bool)>,
    refused: Vec<Refused>,
    /// Field deltas of documents the hub does not hold: the edge must send them whole.
    need_full: Vec<DocumentRef>,
}

impl Applied {
    /// The change is refused (and counted as ignored), with the reason the edge is told.
    fn refuse(&mut self, change: &Change, reason: String) {
        self.ignored += 1;
        self.refused.push(Refused {
            ns: change.ns.clone(),
            id: change.id.clone(),
            reason,
        });
    }

    /// The change lost: nothing of it is written and the edge gets the hub's version back.
    fn lose(&mut self, change: &Change) {
        self.ignored += 1;
        self.give_back(change);
    }

    /// The edge gets the hub's version of the change's document in `superseded`.
    fn give_back(&mut self, change: &Change) {
        self.lost
            .push((change.ns.clone(), change.id.clone(), false));
    }
}

/// Whether a storage error belongs to one change (the hub can leave it out and apply the rest)
/// rather than to the hub itself (a disk error, corruption).
fn is_document_error(error: &outpost_storage::Error) -> bool {
    !matches!(
        error,
        outpost_storage::Error::Engine(_) | outpost_storage::Error::Corrupt(_)
    )
}

impl<S: HubStore> Hub<S> {
    /// Applies an edge's batch of changes. Changes at or below the edge's `uploadedSeq` were
    /// applied before and are ignored. Conflicts follow [`crate::merge`]: per-field
    /// last-writer-wins for updates, deletes over concurrent updates, `$inc` as counters. A
    /// change that loses is answered in `superseded` with the hub's winning document (or a
    /// delete), which the edge applies, so both sides converge whatever the order of uploads
    /// and downloads. Returns `{ackSeq, applied, ignored, superseded, refused}`.
    ///
    /// A change the hub's storage refuses (a duplicate key in one of the hub's unique indexes,
    /// a document too large) does not hold the rest back: it is found, left out, reported in
    /// `refused` with the reason, and answered with the hub's version of its document (a
    /// compensating write, as Atlas Device Sync does), so the edge converges to the hub.
    pub fn upload(
        &self,
        session: &SyncSession,
        changes: &[Change],
        last_seq: u64,
        timeseries: &[TimeseriesCollection],
    ) -> Result<UploadReply> {
        // The hub bounds the work one upload may cost it (the edge's batches stay well within).
        let bytes: usize = changes.iter().map(Change::approximate_bytes).sum();
        if changes.len() > MAX_BATCH_COUNT || bytes > MAX_UPLOAD_BYTES {
            return Err(Error::Coded {
                code: 2,
                message: format!(
                    "an upload holds at most {MAX_BATCH_COUNT} changes and {MAX_UPLOAD_BYTES} bytes; this one holds {} changes and {bytes} bytes",
                    changes.len()
                ),
            });
        }
        for change in changes {
            check_received_change(change)?;
        }
        let mut memory = self.locked();
        let edge = self.bound_edge(session)?;
        self.catch_up_all(&mut memory)?;
        // Buckets of a time-series collection the hub cannot hold alike are refused.
        let mut refused = self.prepare_timeseries(&edge, changes, timeseries);
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
                edge = %edge.record.id,
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
        edge: &Edge,
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
    /// committed, or only checked (`dry_run`, which returns an empty reply).
    fn apply_upload(
        &self,
        memory: &mut HubMemory,
        edge: &Edge,
        attempt: &Attempt,
    ) -> Result<UploadReply> {
        // Everything below commits as one batch: the documents, their versions, the edge's
        // `uploadedSeq`. A failure or crash part way applies nothing, and the edge sends the
        // batch again.
        let mut batch = self.store.batch();
        // What is left since `catch_up_all` (writes made in between) is small.
        let (versioned, _) = self.catch_up_versions(memory, &mut batch, usize::MAX)?;
        let mut outcome = Applied::default();
        for (position, change) in attempt.changes.iter().enumerate().take(attempt.prefix) {
            if let Some((_, reason)) = attempt.refused.iter().find(|(p, _)| *p == position) {
                outcome.refuse(change, reason.clone());
                // A one-way change is not undone at the edge.
                let one_way = split_namespace(&change.ns)
                    .is_ok_and(|(db, coll)| edge.query.is_one_way(db, coll));
                if !one_way {
                    outcome
                        .lost
                        .push((change.ns.clone(), change.id.clone(), true));
                }
                continue;
            }
            self.apply_change(&mut batch, edge, change, &mut outcome)?;
        }
        if !outcome.need_full.is_empty() {
            // Nothing is committed: the edge sends the same batch again with these documents
            // whole (protocol 3.1).
            return Ok(UploadReply {
                ack_seq: edge.record.uploaded_seq,
                need_full: outcome.need_full,
                ..UploadReply::default()
            });
        }
        let superseded = self.superseded(&batch, edge, attempt.changes, outcome.lost)?;
        let ack = attempt.last_seq.max(edge.record.uploaded_seq);
        let mut record = edge.record.clone();
        record.uploaded_seq = ack;
        record.last_seen = Some(DateTime::now());
        batch.put_edge(&record)?;
        if attempt.dry_run {
            batch.check()?;
            return Ok(UploadReply::default());
        }
        // The batch versioned the whole history before its own entries (it is open, so
        // nothing else commits), and its own entries are the edge's: none needs a version.
        let committed = batch.commit_with_seq()?;
        memory.versioned_seq = Some(committed.max(versioned));
        // The edge forgets what it uploaded once acknowledged: it must be on disk first.
        self.store.flush()?;
        Ok(UploadReply {
            ack_seq: ack,
            applied: outcome.applied,
            ignored: outcome.ignored,
            superseded,
            refused: outcome.refused,
            need_full: Vec::new(),
        })
    }

    /// Stages one change of an upload.
    fn apply_change(
        &self,
        batch: &mut S::Batch<'_>,
        edge: &Edge,
        change: &Change,
        outcome: &mut Applied,
    ) -> Result<()> {
        let edge_id = edge.record.id.as_str();
        // Sequence 0 marks a document offered outside the history log (after a query change);
        // last-writer-wins alone decides about it.
        if let Ok((db, coll)) = split_namespace(&change.ns) {
            if edge.query.synced_buckets_of(db, coll).is_some() {
                return self.apply_bucket(batch, edge, change, outcome);
            }
            if edge.query.is_ingest(db, coll) {
                return self.apply_ingested(batch, edge, (db, coll), change, outcome);
            }
        }
        if change.seq != 0 && change.seq <= edge.record.uploaded_seq {
            // Applied (or refused) before and the answer was lost: answer again with the winner
            // when it is not this edge's write, or with a delete when the hub never took the
            // document (it was refused). (The hub keeps no record of what it refused: a document
            // whose state at the hub is not the change's may be a refused change, and gets the
            // hub's version.)
            outcome.ignored += 1;
            let stored = batch.document(&change.ns, &change.id)?;
            let differs = match &change.op {
                Op::Update(Update {
                    doc: delta,
                    delta: true,
                    ..
                }) => stored.map(|stored| project_like(&stored, delta)).as_ref() != Some(delta),
                _ => stored.as_ref() != change.doc(),
            };
            let other_writer = version_with_drop(batch, &change.ns, &change.id)?
                .is_some_and(|v| v.origin != edge_id);
            if differs || other_writer {
                outcome
                    .lost
                    .push((change.ns.clone(), change.id.clone(), differs));
            }
            return Ok(());
        }
        batch.observe_hlc(change.hlc);
        let (db, coll) = split_namespace(&change.ns)?;
        let (doc, fields, increments) = match &change.op {
            Op::Drop => return self.apply_drop_change(batch, edge, change, outcome),
            Op::Update(update) if update.delta => {
                return self.apply_delta(batch, edge, change, update, outcome)
            }
            Op::Update(update) => (
                Some(&update.doc),
                Some(update.fields.as_slice()),
                update.increments.as_ref(),
            ),
            Op::Insert(doc) | Op::Replace(doc) => (Some(doc), None, None),
            Op::Delete => (None, None, None),
        };
        // The edge filtered already; the hub checks again so a misbehaving edge cannot write
        // outside its query.
        let allowed = !is_internal_namespace(db, coll)
            && edge.query.is_synced(db, coll)
            && match doc {
                Some(doc) => {
                    check_id(edge.record.service, doc).is_ok()
                        && edge.query.matches(db, coll, doc)? == QueryMatch::Matches
                }
                None => check_id(edge.record.service, &doc! {"_id": change.id.clone()}).is_ok(),
            };
        if !allowed {
            tracing::warn!(edge = %edge_id, ns = %change.ns, id = %change.id, "hub refused an uploaded change outside the edge's query");
            outcome.ignored += 1;
            return Ok(());
        }
        let current = version_with_drop(batch, &change.ns, &change.id)?;
        let stored = batch.document(&change.ns, &change.id)?;
        let origin = Origin::Peer(edge_id.to_string());
        match (doc, stored) {
            // An update of a stored document: last-writer-wins per field.
            (Some(doc), Some(stored)) => {
                let version = current.unwrap_or_else(|| Version::whole(0, false, ""));
                let merge = merge_update(
                    &stored, version, doc, fields, increments, change.hlc, edge_id,
                );
                let mut version = merge.version;
                if !merge.won {
                    // This edge no longer holds the hub's version (an earlier change of the
                    // same batch may have claimed it did): it gets the winner back.
                    if version.origin == edge_id {
                        version.origin = HUB_INSTANCE.to_string();
                        batch.put_version(&change.ns, &change.id, &version)?;
                    }
                    outcome.lose(change);
                    return Ok(());
                }
                let edge_holds = merge.merged == *doc && !merge.lost_some;
                stage_merged(
                    batch,
                    change,
                    merge.merged,
                    version,
                    edge_holds,
                    edge_id,
                    outcome,
                )?;
            }
            // A delete, or a document the hub does not hold.
            (_, _) => {
                let deleting = doc.is_none();
                let inserting = matches!(change.op, Op::Insert(_));
                if whole_write_loses(deleting, inserting, change.hlc, edge_id, current.as_ref()) {
                    if let Some(mut version) = current.filter(|c| c.origin == edge_id) {
                        version.origin = HUB_INSTANCE.to_string();
                        batch.put_version(&change.ns, &change.id, &version)?;
                    }
                    outcome.lose(change);
                    return Ok(());
                }
                // The version keeps the change's own clock: a later insert by the same
                // instance (which saw this delete) must compare as later.
                let incoming = Version::whole(change.hlc, deleting, edge_id);
                batch.put_document(&change.ns, &change.id, doc.cloned(), &origin);
                batch.put_version(&change.ns, &change.id, &incoming)?;
            }
        }
        outcome.applied += 1;
        Ok(())
    }

    /// Stages one change of an ingest collection: an insert is stored as it is (no version,
    /// no merge; a document the hub holds already, or a change uploaded before, is ignored),
    /// anything else is refused.
    fn apply_ingested(
        &self,
        batch: &mut S::Batch<'_>,
        edge: &Edge,
        (db, coll): (&str, &str),
        change: &Change,
        outcome: &mut Applied,
    ) -> Result<()> {
        let Op::Insert(doc) = &change.op else {
            outcome.refuse(
                change,
                format!(
                    "{db}.{coll} is an ingest collection of this edge: the hub takes inserts \
                     only, not a {}",
                    change.op.name()
                ),
            );
            return Ok(());
        };
        if change.seq <= edge.record.uploaded_seq {
            outcome.ignored += 1;
            return Ok(());
        }
        if let Err(reason) = check_id(edge.record.service, doc) {
            outcome.refuse(change, reason.to_string());
            return Ok(());
        }
        if batch.document(&change.ns, &change.id)?.is_some() {
            // A re-sent insert (the edge lost the answer): the hub has it.
            outcome.ignored += 1;
            return Ok(());
        }
        stage_one_way(batch, edge, change, doc, outcome);
        Ok(())
    }

    /// Creates the time-series collections of an upload's buckets the hub lacks, with the
    /// edge's options. Returns the bucket changes to refuse (by position, with the reason)
    /// when the hub holds the collection otherwise or the options are bad.
    fn prepare_timeseries(
        &self,
        edge: &Edge,
        changes: &[Change],
        timeseries: &[TimeseriesCollection],
    ) -> Vec<(usize, String)> {
        let mut refused = Vec::new();
        let mut checked: HashMap<String, Option<String>> = HashMap::new();
        for (position, change) in changes.iter().enumerate() {
            let Ok((db, coll)) = split_namespace(&change.ns) else {
                continue;
            };
            let Some(collection) = edge.query.synced_buckets_of(db, coll) else {
                continue;
            };
            let ns = format!("{db}.{collection}");
            let problem = checked.entry(ns.clone()).or_insert_with(|| {
                let options = timeseries.iter().find(|t| t.ns == ns);
                match options {
                    None => Some(format!(
                        "the upload carries buckets of {ns} without its time-series options"
                    )),
                    Some(t) => self.store.ensure_timeseries(&ns, &t.options).err().map(|e| {
                        tracing::warn!(edge = %edge.record.id, ns = %ns, error = %e, "the hub refuses an edge's time-series buckets");
                        e.to_string()
                    }),
                }
            });
            if let Some(reason) = problem {
                refused.push((position, reason.clone()));
            }
        }
        refused
    }

    /// Stages one bucket of a time-series collection: a whole bucket, stored unless the hub
    /// holds it with as many measurements already (an older or re-sent version). Buckets
    /// only grow by inserts; other operations (a bucket's deletion, by TTL or a delete at
    /// the edge) stay at the edge and are refused.
    fn apply_bucket(
        &self,
        batch: &mut S::Batch<'_>,
        edge: &Edge,
        change: &Change,
        outcome: &mut Applied,
    ) -> Result<()> {
        let (Op::Insert(doc) | Op::Replace(doc)) = &change.op else {
            outcome.refuse(
                change,
                format!(
                    "{} holds time-series buckets, uploaded whole: the hub takes no {}",
                    change.ns,
                    change.op.name()
                ),
            );
            return Ok(());
        };
        let measurements =
            |bucket: &Document| match bucket.get_document("control").map(|c| c.get("count")) {
                Ok(Some(Bson::Int32(n))) => i64::from(*n),
                Ok(Some(Bson::Int64(n))) => *n,
                _ => 0,
            };
        let stale = change.seq <= edge.record.uploaded_seq
            || batch
                .document(&change.ns, &change.id)?
                .is_some_and(|held| measurements(&held) >= measurements(doc));
        if stale || check_id(edge.record.service, doc).is_err() {
            outcome.ignored += 1;
            return Ok(());
        }
        stage_one_way(batch, edge, change, doc, outcome);
        Ok(())
    }

    /// Stages a collection drop uploaded by an edge (see [`Self::apply_edge_drop`]).
    fn apply_drop_change(
        &self,
        batch: &mut S::Batch<'_>,
        edge: &Edge,
        change: &Change,
        outcome: &mut Applied,
    ) -> Result<()> {
        let (db, coll) = split_namespace(&change.ns)?;
        if is_internal_namespace(db, coll) || !edge.query.is_synced(db, coll) {
            outcome.ignored += 1;
            return Ok(());
        }
        let survivors = self.apply_edge_drop(batch, edge, change)?;
        outcome.lost.extend(
            survivors
                .into_iter()
                .map(|id| (change.ns.clone(), id, false)),
        );
        outcome.applied += 1;
        Ok(())
    }

    /// Stages an update uploaded as a field delta (`update.delta`). A delta of a document
    /// the hub does not hold asks for the whole document (`needFull`), unless the update loses
    /// anyway (the document was deleted). Otherwise it merges as a whole update would; the
    /// edge's query is checked on the document before and after, as the delta alone cannot
    /// tell. The edge holds the merge when it held the hub's version before (the version's
    /// origin is the edge) and no field lost; else it gets the merge back.
    fn apply_delta(
        &self,
        batch: &mut S::Batch<'_>,
        edge: &Edge,
        change: &Change,
        update: &Update,
        outcome: &mut Applied,
    ) -> Result<()> {
        let edge_id = edge.record.id.as_str();
        let (db, coll) = split_namespace(&change.ns)?;
        let (delta, fields) = (&update.doc, update.fields.as_slice());
        if is_internal_namespace(db, coll)
            || !edge.query.is_synced(db, coll)
            || check_id(edge.record.service, &doc! {"_id": change.id.clone()}).is_err()
        {
            tracing::warn!(edge = %edge_id, ns = %change.ns, id = %change.id, "hub refused an uploaded change outside the edge's query");
            outcome.ignored += 1;
            return Ok(());
        }
        let current = version_with_drop(batch, &change.ns, &change.id)?;
        let Some(stored) = batch.document(&change.ns, &change.id)? else {
            if whole_write_loses(false, false, change.hlc, edge_id, current.as_ref()) {
                if let Some(mut version) = current.filter(|c| c.origin == edge_id) {
                    version.origin = HUB_INSTANCE.to_string();
                    batch.put_version(&change.ns, &change.id, &version)?;
                }
                outcome.lose(change);
            } else {
                outcome.need_full.push(DocumentRef {
                    ns: change.ns.clone(),
                    id: change.id.clone(),
                });
            }
            return Ok(());
        };
        let held_by_edge = current.as_ref().is_some_and(|v| v.origin == edge_id);
        let before = current.unwrap_or_else(|| Version::whole(0, false, ""));
        let merge = merge_update(
            &stored,
            before.clone(),
            delta,
            Some(fields),
            update.increments.as_ref(),
            change.hlc,
            edge_id,
        );
        let matches = |doc: &Document| -> Result<bool> {
            Ok(edge.query.matches(db, coll, doc)? == QueryMatch::Matches)
        };
        let in_scope = matches(&stored)? || matches(&merge.merged)?;
        if !merge.won || !in_scope {
            // Nothing of the delta is written; the edge no longer holds the hub's version.
            if held_by_edge {
                let mut version = before;
                version.origin = HUB_INSTANCE.to_string();
                batch.put_version(&change.ns, &change.id, &version)?;
            }
            outcome.lose(change);
            return Ok(());
        }
        let edge_holds = held_by_edge && !merge.lost_some;
        stage_merged(
            batch,
            change,
            merge.merged,
            merge.version,
            edge_holds,
            edge_id,
            outcome,
        )?;
        outcome.applied += 1;
        Ok(())
    }

    /// The winners of the documents whose changes lost, as they stand after the whole batch
    /// (a later change of the same batch may have won after all), as changes for the edge.
    fn superseded(
        &self,
        batch: &S::Batch<'_>,
        edge: &Edge,
        changes: &[Change],
        lost: Vec<(String, Bson, bool)>,
    ) -> Result<Vec<Change>> {
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
        let mut superseded = Vec::new();
        for (ns, id, force) in documents {
            let (db, coll) = split_namespace(&ns)?;
            let key = keyenc::encode(&id);
            let same_document = |c: &&Change| c.ns == ns && keyenc::encode(&c.id) == key;
            let winner = match version_with_drop(batch, &ns, &id)? {
                Some(winner) if winner.origin != edge.record.id || force => winner,
                Some(_) => continue,
                // A document the hub never took (its change was refused, now or in a batch
                // whose answer was lost): the edge deletes its copy, at the change's clock so
                // later local writes stay.
                None if batch.document(&ns, &id)?.is_none() => {
                    match changes.iter().rfind(same_document) {
                        Some(change) => Version::whole(change.hlc, true, HUB_INSTANCE),
                        None => continue,
                    }
                }
                None => continue,
            };
            // A winner the edge's query does not sync reaches the edge as a delete.
            let doc = batch.document(&ns, &id)?.filter(|doc| {
                check_id(edge.record.service, doc).is_ok()
                    && edge.query.matches(db, coll, doc).ok() == Some(QueryMatch::Matches)
            });
            let change = Change::whole(0, ns, id, doc, winner.hlc, winner.origin);
            superseded.push(change);
        }
        Ok(superseded)
    }

    /// Applies a collection drop made at an edge: deletes each document of the collection that
    /// the edge's query syncs (the documents the edge held) and that was last written before the
    /// drop by the clock. Returns the `_id`s of matching documents written after the drop: they
    /// stay, and go back to the edge.
    fn apply_edge_drop(
        &self,
        batch: &mut S::Batch<'_>,
        edge: &Edge,
        change: &Change,
    ) -> Result<Vec<Bson>> {
        let (db, coll) = split_namespace(&change.ns)?;
        let origin = Origin::Peer(edge.record.id.clone());
        batch.observe_hlc(change.hlc);
        let mut ids = batch.staged_ids(&change.ns);
        ids.extend(self.store.ids(&change.ns)?);
        let mut seen = HashSet::new();
        let mut survivors = Vec::new();
        for id in ids {
            if !seen.insert(keyenc::encode(&id)) {
                continue;
            }
            let Some(doc) = batch.document(&change.ns, &id)? else {
                continue;
            };
            let synced = check_id(edge.record.service, &doc).is_ok()
                && edge.query.matches(db, coll, &doc)? == QueryMatch::Matches;
            if !synced {
                continue;
            }
            let written_later = version_with_drop(batch, &change.ns, &id)?
                .is_some_and(|v| !v.deleted && v.hlc > change.hlc);
            if written_later {
                survivors.push(id);
                continue;
            }
            batch.put_document(&change.ns, &id, None, &origin);
            // Recorded as the hub's, not the edge's: the delete is sent back to the edge too,
            // which may have downloaded the document again after its drop.
            let deleted = Version::whole(change.hlc, true, HUB_INSTANCE);
            batch.put_version(&change.ns, &id, &deleted)?;
        }
        Ok(survivors)
    }
}

/// The last-writer-wins version of a document, if any write to it was versioned; a later drop
/// of its collection deletes it too.
pub(super) fn version_with_drop(
    batch: &impl Versions,
    ns: &str,
    id: &Bson,
) -> Result<Option<Version>> {
    let version = batch.version(ns, id)?;
    let dropped = batch
        .dropped(ns)?
        .map(|drop| Version::whole(drop.hlc, true, HUB_INSTANCE));
    Ok(match (version, dropped) {
        (Some(version), Some(dropped)) if dropped.stamp() > version.stamp() => Some(dropped),
        (None, dropped) => dropped,
        (version, _) => version,
    })
}

/// Stages a one-way write (an ingested insert, a time-series bucket) as it is: no version, no
/// merge, nothing given back.
fn stage_one_way<B: HubBatch>(
    batch: &mut B,
    edge: &Edge,
    change: &Change,
    doc: &Document,
    outcome: &mut Applied,
) {
    batch.observe_hlc(change.hlc);
    let origin = Origin::Peer(edge.record.id.clone());
    batch.put_document(&change.ns, &change.id, Some(doc.clone()), &origin);
    outcome.applied += 1;
}

/// Stages a merge that won: the merged document, and its versions owned by the edge when the
/// edge already holds exactly this document, else by the hub (the edge gets it back).
fn stage_merged<B: HubBatch>(
    batch: &mut B,
    change: &Change,
    merged: Document,
    mut version: Version,
    edge_holds: bool,
    edge_id: &str,
    outcome: &mut Applied,
) -> Result<()> {
    if edge_holds {
        version.origin = edge_id.to_string();
    } else {
        version.origin = HUB_INSTANCE.to_string();
        outcome.give_back(change);
    }
    version.deleted = false;
    let origin = Origin::Peer(edge_id.to_string());
    batch.put_document(&change.ns, &change.id, Some(merged), &origin);
    batch.put_version(&change.ns, &change.id, &version)
}
