//! Upload: choosing the next batch from the history log after the upload cursor, the request
//! that sends it, and finishing an upload with the hub's answer (the cursor, refused and
//! superseded changes).

use std::collections::HashMap;

use bson::{doc, Bson, Document};
use outpost_storage::value::keyenc;
use outpost_storage::{HistoryOp, Origin};

use super::{EdgeSync, Link};
use crate::delta::field_delta;
use crate::error::{Error, Result};
use crate::id_rules::check_id;
use crate::instance_query::{is_internal_namespace, InstanceQuery, QueryMatch};
use crate::protocol::messages;
use crate::protocol::{
    split_namespace, Change, Op, Update, DELTAS_SINCE, INCOMPATIBLE_PROTOCOL, TIMESERIES_SINCE,
};

/// History entries one upload batch examines at most (most may be skipped).
const UPLOAD_SCAN_LIMIT: usize = 10_000;
/// How many skipped documents are remembered to log each only once.
const LOGGED_SKIPS_LIMIT: usize = 100_000;

/// What one upload pass chose from the history log.
#[derive(Debug, Default)]
pub(super) struct UploadBatch {
    pub(super) changes: Vec<Change>,
    /// The upload cursor this batch starts after.
    pub(super) from_seq: u64,
    /// The last sequence examined: the cursor after this batch is acknowledged.
    pub(super) last_seq: u64,
    /// The time-series collections whose buckets the changes carry, with their options.
    pub(super) timeseries: Vec<messages::TimeseriesCollection>,
    /// Where each bucket's change is in `changes`: a bucket written again in the same batch
    /// is sent once, as it is last.
    pub(super) buckets: HashMap<(String, Vec<u8>), usize>,
}

/// An upload batch chosen by [`EdgeSync::prepare_upload`], and the request that sends it
/// (`None` when it only moves the cursor past skipped entries).
pub struct PreparedUpload {
    batch: UploadBatch,
    pub request: Option<Document>,
}

impl EdgeSync {
    /// Chooses the next upload batch: `None` when nothing is left after the upload cursor.
    /// The caller sends its request (if any) and gives the answer to
    /// [`Self::complete_upload`] before applying any download answered after it.
    pub fn prepare_upload(&mut self) -> Result<Option<PreparedUpload>> {
        let cursor = self.state()?.progress.upload_cursor;
        self.prepare_upload_from(cursor)
    }

    /// Chooses the batch after `previous`, while `previous` is still in flight (pipelining:
    /// the history is read while the hub applies the batch before). Use it only if the answer
    /// to `previous` moves the cursor to its end ([`Self::complete_upload`] says so), and
    /// within the same hold of the engine (a query change in between would make it stale).
    pub fn prepare_upload_after(
        &mut self,
        previous: &PreparedUpload,
    ) -> Result<Option<PreparedUpload>> {
        self.prepare_upload_from(previous.batch.last_seq)
    }

    fn prepare_upload_from(&mut self, cursor: u64) -> Result<Option<PreparedUpload>> {
        let batch = self.next_upload_batch(cursor)?;
        if batch.last_seq == 0 {
            return Ok(None);
        }
        let request = self.upload_request(&batch)?;
        Ok(Some(PreparedUpload { batch, request }))
    }

    /// Takes the hub's answer to a prepared upload (`None` when it had no request). Returns
    /// whether the upload cursor moved past the batch (else, the hub asked for some documents
    /// whole, and the next batch is the same entries again).
    pub fn complete_upload(
        &mut self,
        prepared: PreparedUpload,
        reply: Option<&Document>,
    ) -> Result<bool> {
        let last_seq = prepared.batch.last_seq;
        self.finish_upload(prepared.batch, reply)?;
        Ok(self.state()?.progress.upload_cursor >= last_seq)
    }

    pub(super) fn count_skip(
        &mut self,
        ns: &str,
        id: &Bson,
        reason: &'static str,
        detail: &dyn std::fmt::Display,
        log: bool,
    ) {
        self.update_status(|s| *s.skipped.entry(reason.to_string()).or_default() += 1);
        if !log {
            return;
        }
        let key = (
            ns.to_string(),
            outpost_storage::value::keyenc::encode(id),
            reason,
        );
        if self.logged_skips.len() >= LOGGED_SKIPS_LIMIT {
            self.logged_skips.clear();
        }
        if self.logged_skips.insert(key) {
            tracing::warn!(ns, id = %id, reason, "not synced: {detail}");
        }
    }

    /// Chooses the next batch from the history log after the upload cursor. Skipped entries
    /// are counted (and logged once per document) and still move the cursor.
    pub(super) fn next_upload_batch(&mut self, cursor: u64) -> Result<UploadBatch> {
        let state = self.state()?.clone();
        let query = InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?;
        let mut batch = UploadBatch {
            from_seq: cursor,
            ..UploadBatch::default()
        };
        let mut bytes = 0;
        let deltas = self.hub_version.is_some_and(|v| v >= DELTAS_SINCE);
        // Entries are read one at a time; the changes of the hub (downloaded, never uploaded)
        // are skipped cheaply, so a large download does not hold back the local writes after
        // it for many rounds.
        let storage = self.storage.clone();
        let entries = storage
            .history_from(cursor.saturating_add(1))
            .take(UPLOAD_SCAN_LIMIT.max(self.options.batch_count));
        for entry in entries {
            let entry = entry?;
            if batch.changes.len() >= self.options.batch_count || bytes >= self.options.batch_bytes
            {
                break;
            }
            batch.last_seq = entry.seq;
            if entry.origin != Origin::Local {
                continue;
            }
            let Ok((db, coll)) = split_namespace(&entry.ns) else {
                continue;
            };
            if let Some(timeseries) = query.synced_buckets_of(db, coll) {
                let timeseries = format!("{db}.{timeseries}");
                if let Some(hub) = self.hub_version.filter(|v| *v < TIMESERIES_SINCE) {
                    // Nothing moves past this entry: the readings wait for an upgraded hub.
                    return Err(Error::Coded {
                        code: INCOMPATIBLE_PROTOCOL,
                        message: format!(
                            "the hub speaks sync protocol {hub}, which cannot take the \
                             time-series collection {timeseries}; upgrade the hub to \
                             {TIMESERIES_SINCE} or later (local reads and writes continue)"
                        ),
                    });
                }
                bytes += self.push_bucket(&mut batch, entry, timeseries)?;
                continue;
            }
            if is_internal_namespace(db, coll) || !query.is_synced(db, coll) {
                self.count_skip(
                    &entry.ns,
                    &entry.id,
                    "local_only_namespace",
                    &"namespace not in the instance query",
                    false,
                );
                continue;
            }
            if query.is_ingest(db, coll) {
                if let Some(change) = self.ingest_change(entry)? {
                    bytes += change.approximate_bytes();
                    batch.changes.push(change);
                }
                continue;
            }
            // An update names its changed fields: the hub merges only those.
            let insert = entry.op == HistoryOp::Insert;
            let (fields, increments) = match entry.op {
                HistoryOp::Update => (entry.changed_fields.clone(), entry.increments.clone()),
                _ => (None, None),
            };
            let doc = match (entry.op, entry.doc) {
                (HistoryOp::Drop, _) => {
                    // The hub deletes the documents of the collection this edge's query syncs
                    // (see `Hub::upload`).
                    let change = Change::drop(entry.seq, entry.ns, entry.hlc, String::new());
                    bytes += change.approximate_bytes();
                    batch.changes.push(change);
                    continue;
                }
                (HistoryOp::Delete, _) | (_, None) => {
                    if let Err(reason) =
                        check_id(state.identity.service, &doc! {"_id": entry.id.clone()})
                    {
                        self.count_skip(&entry.ns, &entry.id, reason.as_str(), &reason, true);
                        continue;
                    }
                    None
                }
                (op, Some(doc)) => {
                    if let Err(reason) = check_id(state.identity.service, &doc) {
                        self.count_skip(&entry.ns, &entry.id, reason.as_str(), &reason, true);
                        continue;
                    }
                    match query.matches(db, coll, &doc) {
                        Ok(QueryMatch::Matches) => Some(doc),
                        Ok(_) => {
                            self.count_skip(
                                &entry.ns,
                                &entry.id,
                                "outside_query",
                                &"the document does not match the instance query",
                                true,
                            );
                            if op == HistoryOp::Insert {
                                continue;
                            }
                            // An update moved the document out of the query: the hub drops it.
                            None
                        }
                        Err(error) => {
                            self.count_skip(&entry.ns, &entry.id, "query_error", &error, true);
                            continue;
                        }
                    }
                }
            };
            let op = match (doc, fields) {
                (None, _) => Op::Delete,
                (Some(doc), _) if insert => Op::Insert(doc),
                (Some(doc), None) => Op::Replace(doc),
                (Some(doc), Some(fields)) => {
                    // An update travels as a field delta when the hub takes them and holds
                    // the document (it said `needFull` otherwise).
                    let delta = if deltas && !self.must_send_whole(&entry.ns, &entry.id) {
                        field_delta(&doc, &fields)
                    } else {
                        None
                    };
                    Op::Update(Update {
                        delta: delta.is_some(),
                        doc: delta.unwrap_or(doc),
                        fields,
                        increments,
                    })
                }
            };
            let change = Change {
                seq: entry.seq,
                ns: entry.ns,
                id: entry.id,
                hlc: entry.hlc,
                origin: String::new(),
                op,
            };
            bytes += change.approximate_bytes();
            batch.changes.push(change);
        }
        Ok(batch)
    }

    /// Whether the hub asked for `ns`/`id` whole since the last acknowledged upload.
    fn must_send_whole(&self, ns: &str, id: &Bson) -> bool {
        !self.send_whole.is_empty()
            && self
                .send_whole
                .contains(&(ns.to_string(), keyenc::encode(id)))
    }

    pub(super) fn upload(&mut self, link: &mut dyn Link, batch: UploadBatch) -> Result<()> {
        let reply = match self.upload_request(&batch)? {
            Some(request) => Some(link.call(request)?),
            None => None,
        };
        self.finish_upload(batch, reply.as_ref())
    }

    /// The request that uploads `batch`, or `None` when it has no changes (only skipped
    /// entries: the cursor moves without asking the hub).
    fn upload_request(&self, batch: &UploadBatch) -> Result<Option<Document>> {
        if batch.changes.is_empty() {
            return Ok(None);
        }
        // What is uploaded must be durable here first: after a crash the edge must not reuse
        // sequence numbers the hub has already acknowledged.
        self.storage.flush()?;
        let upload = messages::Upload {
            from_seq: batch.from_seq,
            last_seq: batch.last_seq,
            changes: batch.changes.clone(),
            timeseries: batch.timeseries.clone(),
        };
        Ok(Some(upload.into_request(self.hub_version)))
    }

    /// Takes the hub's answer to an upload: the cursor moves past the batch, refused changes
    /// are counted, and superseded ones take the hub's version.
    fn finish_upload(&mut self, batch: UploadBatch, reply: Option<&Document>) -> Result<()> {
        let mut state = self.state()?.clone();
        let count = batch.changes.len();
        let mut superseded = Vec::new();
        let mut ingested = Vec::new();
        if reply.is_some() {
            self.uploads_acknowledged += 1;
        }
        if let Some(reply) = reply {
            self.check_hub_reply(reply)?;
            let reply: messages::UploadReply = messages::parse(reply, "upload reply")?;
            if !reply.need_full.is_empty() {
                // The hub applied nothing: the same entries go again, these documents whole.
                for item in reply.need_full {
                    self.send_whole.insert((item.ns, keyenc::encode(&item.id)));
                }
                return Ok(());
            }
            let ack = reply.ack_seq;
            if ack < batch.last_seq {
                return Err(Error::protocol(format!(
                    "the hub acknowledged sequence {ack}, expected {}",
                    batch.last_seq
                )));
            }
            // Changes the hub's storage refused (its own unique indexes, say): counted, logged,
            // and reverted to the hub's version through `superseded`.
            for refused in &reply.refused {
                self.count_skip(
                    &refused.ns,
                    &refused.id,
                    "refused_by_hub",
                    &refused.reason,
                    true,
                );
            }
            superseded = reply.superseded;
            ingested = self.acknowledged_ingests(&batch.changes, &reply.refused)?;
        }
        // (A batch of documents a query change offered carries the cursor of its time: an
        // upload acknowledged meanwhile is not undone.)
        state.progress.upload_cursor = state.progress.upload_cursor.max(batch.last_seq);
        // The documents asked for whole have been sent whole now.
        self.send_whole.clear();
        let upload_cursor = state.progress.upload_cursor;
        // Changes the hub refused because it holds a newer version: take the hub's version,
        // unless a local change made since this batch wins; committed with the new cursor.
        self.apply_changes(superseded, Some(&state), &ingested)?;
        self.save_with(state, true)?;
        let uploaded = u64::try_from(count).unwrap_or(u64::MAX);
        self.update_status(|s| {
            s.uploaded += uploaded;
            s.upload_cursor = upload_cursor;
        });
        Ok(())
    }
}
