//! Ingest collections at the edge (`{"db.coll": {"$ingest": true}}` in the instance query,
//! Device Sync's Data Ingest): inserts upload, nothing else does; the hub's acknowledgement of
//! each insert is recorded (`sync.edge.ingested`, by time, committed with the upload cursor)
//! and [`EdgeSync::drop_expired_ingested`] removes local copies older than the retention.

use std::time::Duration;

use bson::{DateTime, Document};
use outpost_storage::value::keyenc;
use outpost_storage::{HistoryEntry, HistoryOp, Origin};

use super::state::{ingested_key, Ingested};
use super::{EdgeSync, UploadBatch};
use crate::error::Result;
use crate::id_rules::check_id;
use crate::protocol::messages::{Refused, TimeseriesCollection};
use crate::protocol::{split_namespace, Change, Op};

/// The origin of the local deletes that end the retention of ingested documents: not
/// `Local`, so they are never uploaded.
pub const RETENTION_ORIGIN: &str = "ingest-retention";
/// Documents one retention pass removes at most.
pub const RETENTION_PASS_LIMIT: usize = 1_000;
/// The skip reason of updates, deletes and drops in an ingest collection.
pub const INGEST_LOCAL_ONLY: &str = "ingest_local_only";

impl EdgeSync {
    /// The upload of a local history entry of an ingest collection: an insert uploads as an
    /// insert; anything else stays local and is counted as skipped. `None`: skipped.
    pub(super) fn ingest_change(&mut self, entry: HistoryEntry) -> Result<Option<Change>> {
        let service = self.state()?.identity.service;
        let doc = match (entry.op, entry.doc) {
            (HistoryOp::Insert, Some(doc)) => doc,
            _ => {
                self.count_skip(
                    &entry.ns,
                    &entry.id,
                    INGEST_LOCAL_ONLY,
                    &"an ingest collection uploads inserts only; updates, deletes and drops \
                      stay local",
                    false,
                );
                return Ok(None);
            }
        };
        if let Err(reason) = check_id(service, &doc) {
            self.count_skip(&entry.ns, &entry.id, reason.as_str(), &reason, true);
            return Ok(None);
        }
        Ok(Some(Change {
            seq: entry.seq,
            ns: entry.ns,
            id: entry.id,
            hlc: entry.hlc,
            origin: String::new(),
            op: Op::Insert(doc),
        }))
    }

    /// Adds the upload of a local history entry of the buckets of synced time-series
    /// collection `timeseries` to `batch`: a bucket written (inserted, or rewritten with more
    /// measurements) uploads whole, compressed as it is stored, once per batch as it is last;
    /// a bucket's deletion (TTL, a delete) stays local. Returns the bytes added.
    pub(super) fn push_bucket(
        &mut self,
        batch: &mut UploadBatch,
        entry: HistoryEntry,
        timeseries: String,
    ) -> Result<usize> {
        let op = match (entry.op, entry.doc) {
            (HistoryOp::Insert, Some(doc)) => Op::Insert(doc),
            (HistoryOp::Replace | HistoryOp::Update, Some(doc)) => Op::Replace(doc),
            _ => {
                self.count_skip(
                    &entry.ns,
                    &entry.id,
                    INGEST_LOCAL_ONLY,
                    &"a time-series collection uploads its buckets as they grow; deleting \
                      buckets or measurements stays local",
                    false,
                );
                return Ok(0);
            }
        };
        if !batch.timeseries.iter().any(|t| t.ns == timeseries) {
            let (db, coll) = split_namespace(&timeseries)?;
            let options = self
                .storage
                .list_collections(db)
                .into_iter()
                .find(|c| c.name == coll)
                .map(|c| c.options)
                .unwrap_or_default();
            let mut kept = Document::new();
            for key in ["timeseries", "expireAfterSeconds"] {
                if let Some(value) = options.get(key) {
                    kept.insert(key, value.clone());
                }
            }
            batch.timeseries.push(TimeseriesCollection {
                ns: timeseries,
                options: kept,
            });
        }
        let change = Change {
            seq: entry.seq,
            ns: entry.ns,
            id: entry.id,
            hlc: entry.hlc,
            origin: String::new(),
            op,
        };
        let bytes = change.approximate_bytes();
        let key = (change.ns.clone(), keyenc::encode(&change.id));
        match batch.buckets.get(&key) {
            // Sent as it is now, with the later sequence; an insert stays an insert.
            Some(&position) => {
                let earlier = &mut batch.changes[position];
                let op = match (&earlier.op, change.op) {
                    (Op::Insert(_), Op::Replace(doc) | Op::Insert(doc)) => Op::Insert(doc),
                    (_, op) => op,
                };
                *earlier = Change { op, ..change };
            }
            None => {
                batch.buckets.insert(key, batch.changes.len());
                batch.changes.push(change);
            }
        }
        Ok(bytes)
    }

    /// The records of the ingested inserts of an acknowledged upload (those the hub did not
    /// refuse), keyed to sort by acknowledgement time.
    pub(super) fn acknowledged_ingests(
        &self,
        changes: &[Change],
        refused: &[Refused],
    ) -> Result<Vec<(Vec<u8>, Ingested)>> {
        let state = self.state()?;
        let query = crate::instance_query::InstanceQuery::parse(
            &state.progress.query,
            &state.identity.default_db,
        )?;
        let now = DateTime::now();
        let mut records = Vec::new();
        for change in changes {
            let Op::Insert(_) = change.op else { continue };
            let Ok((db, coll)) = split_namespace(&change.ns) else {
                continue;
            };
            if change.seq == 0
                || !query.is_ingest(db, coll)
                || refused
                    .iter()
                    .any(|r| r.ns == change.ns && r.id == change.id)
            {
                continue;
            }
            records.push((
                ingested_key(now, change.seq),
                Ingested {
                    ns: change.ns.clone(),
                    id: change.id.clone(),
                    acknowledged_at: now,
                },
            ));
        }
        Ok(records)
    }

    /// Removes the local copies of ingested documents the hub acknowledged more than
    /// `retention` before `now`, at most [`RETENTION_PASS_LIMIT`] of them, as deletes that
    /// are never uploaded. Returns how many documents went.
    pub fn drop_expired_ingested(&mut self, retention: Duration, now: DateTime) -> Result<u64> {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.timestamp_millis().saturating_sub(retention_ms);
        let tree = self.store.ingested_tree().clone();
        let mut expired = Vec::new();
        for item in tree.iter() {
            let (key, record) = item?;
            if record.acknowledged_at.timestamp_millis() > cutoff
                || expired.len() >= RETENTION_PASS_LIMIT
            {
                break;
            }
            expired.push((key, record));
        }
        if expired.is_empty() {
            return Ok(0);
        }
        let storage = self.storage.clone();
        let mut batch = storage.remote_batch();
        let origin = Origin::Peer(RETENTION_ORIGIN.into());
        let mut dropped = 0_u64;
        for (key, record) in &expired {
            let (db, coll) = split_namespace(&record.ns)?;
            // Gone already (deleted locally, or its collection dropped): only the record goes
            // (a delete here would create the collection again).
            if batch.get(db, coll, &record.id)?.is_some() {
                batch.put(db, coll, &record.id, None, &origin);
                dropped += 1;
            }
            batch.put_record(&tree, key, None)?;
        }
        batch.commit()?;
        tracing::debug!(dropped, "dropped ingested documents past their retention");
        self.update_status(|s| s.ingest_dropped += dropped);
        Ok(dropped)
    }
}
