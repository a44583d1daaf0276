//! Download: the request for the hub's changes after the download cursor, and applying a page
//! of them with its cursor in one commit, checked against the pending local changes.

use std::collections::HashSet;

use bson::{doc, Bson, Document};
use outpost_storage::{HistoryOp, Origin, RemoteBatch};

use super::snapshot::{PendingChanges, PendingScan};
use super::state::{EdgeState, Ingested};
use super::{EdgeSync, Link, HUB_ORIGIN};
use crate::error::{Error, Result};
use crate::id_rules::check_id;
use crate::instance_query::{InstanceQuery, QueryMatch};
use crate::merge::{incoming_wins_at_edge, LocalOp, Stamp};
use crate::protocol::messages;
use crate::protocol::{check_received_change, split_namespace, Change, Op};

impl EdgeSync {
    pub(super) fn download(&mut self, link: &mut dyn Link) -> Result<()> {
        loop {
            let request = self.download_request(0)?;
            let reply = link.call(request)?;
            if self.apply_download(link, &reply)? {
                return Ok(());
            }
        }
    }

    /// The next download request. With `wait_ms`, the hub waits that long for a change when
    /// there is nothing new (a long poll); the caller need not hold the engine meanwhile.
    pub fn download_request(&mut self, wait_ms: u64) -> Result<Document> {
        self.download_requested_after = self.uploads_acknowledged;
        let state = self.state()?;
        let waiting = wait_ms > 0;
        Ok(messages::request_to(
            &messages::Download {
                after: state.progress.download_cursor,
                limit: Some(u64::try_from(self.options.batch_count).unwrap_or(500)),
                wait_ms: waiting.then_some(wait_ms),
                // (A hub answers a query change at once, without reading its history.)
                query_version: Some(
                    u64::try_from(state.progress.synced_query_version).unwrap_or(0),
                ),
            },
            self.hub_version,
        ))
    }

    /// Whether an upload was acknowledged since the download request out now was made (its
    /// answer would not be applied; see [`Self::apply_download`]).
    pub fn download_answer_is_stale(&self) -> bool {
        self.download_requested_after != self.uploads_acknowledged
    }

    /// Applies the hub's answer to [`Self::download_request`] (a query change first fetches
    /// what the new query matches, through `link`). Returns whether the edge is caught up.
    ///
    /// An answer requested before an upload the hub has acknowledged since is not applied (and
    /// `Ok(false)` says to ask again): the hub may have answered before that upload reached it,
    /// and its older version of a document the upload wrote would replace the edge's newer one
    /// for good (the hub never sends an edge its own writes back). A pushing edge's two sides
    /// overlap; this keeps what it applies in the hub's order.
    pub fn apply_download(&mut self, link: &mut dyn Link, reply: &Document) -> Result<bool> {
        self.check_hub_reply(reply)?;
        if self.download_answer_is_stale() {
            return Ok(false);
        }
        let mut state = self.state()?.clone();
        let reply: messages::DownloadReply = messages::parse(reply, "download reply")?;
        if reply.query_version != state.progress.synced_query_version {
            self.apply_query_change(link, reply.query, reply.query_version)?;
            return Ok(false);
        }
        let (next, last, changes) = (reply.next, reply.last_seq, reply.changes);
        let caught_up = next >= last || next == state.progress.download_cursor;
        state.progress.download_cursor = next.max(state.progress.download_cursor);
        let applied = self.apply_changes(changes, Some(&state), &[])?;
        let lag = last.saturating_sub(state.progress.download_cursor);
        self.save_with(state, true)?;
        self.update_status(|s| {
            s.downloaded += applied;
            s.download_lag_entries = lag;
        });
        Ok(caught_up)
    }

    /// Local changes not yet uploaded, by document: (namespace, encoded `_id`) -> (clock of the
    /// latest, what they did: an insert followed by updates counts as an insert). A downloaded
    /// change that loses to one of them (see [`incoming_wins_at_edge`]) is not applied; the
    /// local one reaches the hub with the next upload. Each change counts as what its upload
    /// will say: an update that moved a document out of the query uploads as a delete, so it
    /// is a pending delete; a local-only write is not pending.
    pub(super) fn pending_local_changes(&self, upload_cursor: u64) -> Result<PendingChanges> {
        let mut scan = PendingScan::after(upload_cursor);
        self.scan_pending(&mut scan)?;
        Ok(scan.changes)
    }

    /// Extends `scan` with the history entries written since it last looked.
    fn scan_pending(&self, scan: &mut PendingScan) -> Result<()> {
        let scope = match &self.state {
            Some(state) => Some((
                InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?,
                state.identity.service,
            )),
            None => None,
        };
        let pending = &mut scan.changes;
        // The hub's changes this edge applied are skipped undecoded.
        for item in self
            .storage
            .local_history_from(scan.scanned.saturating_add(1))
        {
            let (seq, entry) = item?;
            scan.scanned = seq;
            let Some(entry) = entry else {
                continue;
            };
            let synced_doc = |doc: &Document| match &scope {
                Some((query, service)) => {
                    let Ok((db, coll)) = split_namespace(&entry.ns) else {
                        return false;
                    };
                    check_id(*service, doc).is_ok()
                        && query.matches(db, coll, doc).ok() == Some(QueryMatch::Matches)
                }
                None => true,
            };
            let op = match (entry.op, &entry.doc) {
                (HistoryOp::Insert, Some(doc)) if !synced_doc(doc) => continue,
                (HistoryOp::Insert, _) => LocalOp::Insert,
                (HistoryOp::Update | HistoryOp::Replace, Some(doc)) if !synced_doc(doc) => {
                    LocalOp::Delete
                }
                (HistoryOp::Update | HistoryOp::Replace, _) => LocalOp::Update,
                (HistoryOp::Delete | HistoryOp::Drop, _) => LocalOp::Delete,
            };
            // A drop is recorded for the whole collection, under an empty `_id`.
            let id = match entry.op {
                HistoryOp::Drop => Vec::new(),
                _ => outpost_storage::value::keyenc::encode(&entry.id),
            };
            let key = (entry.ns.clone(), id);
            let op = match pending.get(&key) {
                Some(&(_, earlier)) => LocalOp::then(earlier, op),
                None => op,
            };
            pending.insert(key, (entry.hlc, op));
        }
        Ok(())
    }

    /// Applies the hub's changes (downloaded, or answers to an upload) in one atomic commit,
    /// with the progress of `commit_state` and the `ingested` records when given (the cursor
    /// after these changes). The batch holds the storage's writer lock from before the
    /// pending local changes are read until the commit, so no local write can slip in between
    /// and be overwritten by an older version from the hub. Returns how many changes were
    /// applied.
    pub(super) fn apply_changes(
        &self,
        changes: Vec<Change>,
        commit_state: Option<&EdgeState>,
        ingested: &[(Vec<u8>, Ingested)],
    ) -> Result<u64> {
        let upload_cursor = commit_state
            .or(self.state.as_ref())
            .map_or(0, |s| s.progress.upload_cursor);
        let mut scan = PendingScan::after(upload_cursor);
        self.apply_changes_with(changes, commit_state, ingested, &mut scan)
    }

    /// [`Self::apply_changes`], with the pending local changes of `scan`, brought up to date
    /// under the writer lock.
    pub(super) fn apply_changes_with(
        &self,
        changes: Vec<Change>,
        commit_state: Option<&EdgeState>,
        ingested: &[(Vec<u8>, Ingested)],
        scan: &mut PendingScan,
    ) -> Result<u64> {
        if changes.is_empty() && ingested.is_empty() {
            // Nothing to check against pending local changes (a scan of the backlog).
            if let Some(state) = commit_state {
                self.store.save_progress(&state.progress)?;
            }
            return Ok(0);
        }
        let storage = self.storage.clone();
        let mut batch = storage.remote_batch();
        if !changes.is_empty() {
            self.scan_pending(scan)?;
        }
        let pending = &scan.changes;
        let mut applied = 0_u64;
        for change in changes {
            if self.stage_downloaded(&mut batch, change, pending)? {
                applied += 1;
            }
        }
        if let Some(state) = commit_state {
            self.store.stage_progress(&mut batch, &state.progress)?;
        }
        for (key, record) in ingested {
            batch.put_record(self.store.ingested_tree(), key, Some(record))?;
        }
        if !batch.is_empty() {
            batch.commit()?;
        }
        Ok(applied)
    }

    /// Stages one change of the hub unless a pending local change of the same document wins.
    /// Returns whether it was staged.
    fn stage_downloaded(
        &self,
        batch: &mut RemoteBatch,
        change: Change,
        pending: &PendingChanges,
    ) -> Result<bool> {
        check_received_change(&change)?;
        batch.observe_hlc(change.hlc);
        match &change.op {
            Op::Drop => return self.stage_downloaded_drop(batch, &change, pending),
            Op::Update(_) => {
                return Err(Error::protocol(
                    "the hub sent an update of some fields: an edge takes whole documents only",
                ))
            }
            Op::Insert(_) | Op::Replace(_) | Op::Delete => {}
        }
        let key = (
            change.ns.clone(),
            outpost_storage::value::keyenc::encode(&change.id),
        );
        if let Some(&(local_hlc, local_op)) = pending.get(&key) {
            let own_id = self
                .state
                .as_ref()
                .map_or("", |s| s.identity.edge_id.as_str());
            let local = Stamp::new(local_hlc, local_op == LocalOp::Delete, own_id);
            let incoming = Stamp::new(change.hlc, change.is_delete(), change.origin.as_str());
            if !incoming_wins_at_edge(&local, local_op, &incoming) {
                return Ok(false);
            }
        }
        let (db, coll) = split_namespace(&change.ns)?;
        if self.storage.timeseries_options(db, coll)?.is_some() {
            // A plain collection at the hub, time-series here: its data only go up.
            return Ok(false);
        }
        // The document is moved into the batch, not copied.
        let doc = match change.op {
            Op::Insert(doc) | Op::Replace(doc) => Some(doc),
            _ => None,
        };
        batch.put(db, coll, &change.id, doc, &Origin::Peer(HUB_ORIGIN.into()));
        Ok(true)
    }

    /// The hub dropped a collection: remove the local documents of it that the query syncs,
    /// except those with a local change newer than the drop (they reach the hub again).
    fn stage_downloaded_drop(
        &self,
        batch: &mut RemoteBatch,
        change: &Change,
        pending: &PendingChanges,
    ) -> Result<bool> {
        let state = self.state()?;
        let query = InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?;
        let (db, coll) = split_namespace(&change.ns)?;
        if self.storage.timeseries_options(db, coll)?.is_some() {
            return Ok(false);
        }
        let mut ids = batch.staged_ids(db, coll);
        for doc in self.storage.find(
            db,
            coll,
            &outpost_storage::FindOptions {
                projection: Some(doc! {"_id": 1}),
                ..outpost_storage::FindOptions::default()
            },
        )? {
            ids.push(doc?.get("_id").cloned().unwrap_or(Bson::Null));
        }
        let mut seen = HashSet::new();
        for id in ids {
            let encoded = outpost_storage::value::keyenc::encode(&id);
            if !seen.insert(encoded.clone()) {
                continue;
            }
            let Some(doc) = batch.get(db, coll, &id)? else {
                continue;
            };
            let synced = check_id(state.identity.service, &doc).is_ok()
                && query.matches(db, coll, &doc).ok() == Some(QueryMatch::Matches);
            let newer_locally = pending
                .get(&(change.ns.clone(), encoded))
                .is_some_and(|&(local_hlc, _)| local_hlc > change.hlc);
            if synced && !newer_locally {
                batch.put(db, coll, &id, None, &Origin::Peer(HUB_ORIGIN.into()));
            }
        }
        Ok(true)
    }
}
