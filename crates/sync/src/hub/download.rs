//! Serving an edge's downloads (the hub's changes since its cursor, as document states) and
//! snapshots (every document its query matches, page by page).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bson::Bson;
use outpost_storage::value::keyenc;
use outpost_storage::{HistoryOp, Origin};

use super::records::HUB_INSTANCE;
use super::upload::version_with_drop;
use super::{Hub, HubStore, SyncSession};
use crate::error::Result;
use crate::id_rules::check_id;
use crate::instance_query::{is_internal_namespace, QueryMatch};
use crate::protocol::messages::{DownloadReply, SnapshotItem, SnapshotPosition, SnapshotReply};
use crate::protocol::{split_namespace, u64_to_i64, Change, MAX_BATCH_BYTES, MAX_BATCH_COUNT};

/// History entries one download request examines at most (so a request over a long stretch of
/// unrelated history still answers quickly; the edge asks again from `next`).
const DOWNLOAD_SCAN_LIMIT: usize = 10_000;
/// Documents one snapshot page examines at most (the edge asks again from the position).
const SNAPSHOT_SCAN_LIMIT: usize = 10_000;

/// Download requests that may wait at once (each holds a thread); more answer at once.
const MAX_WAITING_DOWNLOADS: usize = 256;
/// How often a waiting download looks at the registry (a query change is not a commit).
const WAIT_SLICE: Duration = Duration::from_millis(500);

impl<S: HubStore> Hub<S> {
    /// A download (see [`Hub::download`]) that, when there is nothing new for the edge, waits
    /// up to `wait` for a change to commit before answering (a long poll: the edge learns of a
    /// change as soon as it commits, and an idle edge costs one request per `wait`). It also
    /// answers when the edge's query changed (`known_query_version` is the version the edge
    /// has).
    pub fn download_waiting(
        &self,
        session: &SyncSession,
        after: u64,
        limit: usize,
        wait: Duration,
        known_query_version: Option<u64>,
    ) -> Result<DownloadReply> {
        if let Some(reply) = self.query_change_reply(session, after, known_query_version)? {
            return Ok(reply);
        }
        let deadline = Instant::now() + wait;
        let mut after = after;
        let mut counted = false;
        let result = loop {
            let reply = self.download(session, after, limit)?;
            let (next, last) = (reply.next, reply.last_seq);
            let nothing_new = reply.changes.is_empty() && next >= last;
            let query_changed = known_query_version
                .is_some_and(|known| Some(reply.query_version) != i64::try_from(known).ok());
            let left = deadline.saturating_duration_since(Instant::now());
            let stopping = self.stopping.load(Ordering::SeqCst);
            if !nothing_new || query_changed || left.is_zero() || stopping {
                break Ok(reply);
            }
            if !counted {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_DOWNLOADS {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    break Ok(reply);
                }
                counted = true;
            }
            after = next;
            self.store.wait_for_commit_after(last, left.min(WAIT_SLICE));
        };
        if counted {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        result
    }

    /// When the edge's query (`known_query_version`) is not the registry's, the answer that
    /// says so at once: no changes, the cursor where it was, the new query. The edge fetches
    /// what the new query matches with a snapshot, then downloads from the hub's sequence at
    /// the snapshot, so the history before it (and its versions: a large import at the hub
    /// may not be versioned yet) is not needed for this answer.
    fn query_change_reply(
        &self,
        session: &SyncSession,
        after: u64,
        known_query_version: Option<u64>,
    ) -> Result<Option<DownloadReply>> {
        let Some(known) = known_query_version else {
            return Ok(None);
        };
        let edge = {
            let _guard = self.locked();
            self.bound_edge(session)?
        };
        if i64::try_from(known).ok() == Some(edge.record.query_version) {
            return Ok(None);
        }
        self.refuse_while_resetting(&edge.record)?;
        Ok(Some(DownloadReply {
            changes: Vec::new(),
            next: after,
            last_seq: self.store.last_seq(),
            query_version: edge.record.query_version,
            query: edge.query.to_document(),
        }))
    }

    /// The hub's changes after history sequence `after` that concern the edge, as document
    /// states: for each document a history entry touched (in a namespace the edge's query
    /// syncs), its current version at the hub, an upsert when it matches the query and a delete
    /// when it is gone or moved out of the query. Documents whose current version the edge
    /// wrote itself are skipped (the edge already has it, or something newer). The edge stores
    /// the reply's `next` as its download cursor.
    pub fn download(
        &self,
        session: &SyncSession,
        after: u64,
        limit: usize,
    ) -> Result<DownloadReply> {
        let (edge, horizon) = {
            let mut memory = self.locked();
            let edge = self.bound_edge(session)?;
            self.refuse_while_resetting(&edge.record)?;
            self.catch_up_all(&mut memory)?;
            self.touch(&mut memory, &edge, after)?;
            // Every entry up to here has a version; later ones wait for the next request.
            (edge, self.store.last_seq())
        };
        let limit = limit.clamp(1, MAX_BATCH_COUNT);
        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        let mut bytes = 0;
        let mut next = after;
        for (scanned, entry) in self
            .store
            .history_heads_from(after.saturating_add(1))
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
            // An ingest collection is never sent to the edge (Data Ingest is one-way).
            if is_internal_namespace(db, coll)
                || !edge.query.is_synced(db, coll)
                || edge.query.is_ingest(db, coll)
            {
                continue;
            }
            if entry.op == HistoryOp::Drop {
                // The edge removes its copies.
                let change = Change::drop(
                    entry.seq,
                    entry.ns.clone(),
                    entry.hlc,
                    HUB_INSTANCE.to_string(),
                );
                // Earlier changes of this batch to the collection are moot (the drop removes
                // them); later ones are sent again.
                changes.retain(|earlier: &Change| earlier.ns != change.ns);
                seen.retain(|(ns, _)| *ns != change.ns);
                bytes += change.approximate_bytes();
                changes.push(change);
                // Documents of the edge's own that won over the drop (written later) exist at
                // the hub now, but the edge is never sent its own writes: send them back after
                // the drop so the edge keeps them.
                for doc in self.store.documents_after(&entry.ns, None)? {
                    let doc = doc?;
                    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
                    let Some(version) = version_with_drop(&self.store, &entry.ns, &id)? else {
                        continue;
                    };
                    if version.origin != edge.record.id || version.hlc <= entry.hlc {
                        continue;
                    }
                    seen.insert((entry.ns.clone(), keyenc::encode(&id)));
                    let survivor = Change::whole(
                        entry.seq,
                        entry.ns.clone(),
                        id,
                        Some(doc),
                        version.hlc,
                        version.origin,
                    );
                    bytes += survivor.approximate_bytes();
                    changes.push(survivor);
                }
                continue;
            }
            let key = (entry.ns.clone(), keyenc::encode(&entry.id));
            if seen.contains(&key) {
                continue;
            }
            let version = version_with_drop(&self.store, &entry.ns, &entry.id)?;
            if version.as_ref().is_some_and(|v| v.origin == edge.record.id) {
                continue;
            }
            let doc = match self.store.document(&entry.ns, &entry.id)? {
                Some(doc) => {
                    let valid = check_id(edge.record.service, &doc).is_ok();
                    let matches = valid
                        && edge.query.matches(db, coll, &doc).ok() == Some(QueryMatch::Matches);
                    let inserted_by_another = entry.op == HistoryOp::Insert
                        && entry.origin != Origin::Peer(edge.record.id.clone());
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
            let change = Change::whole(
                entry.seq,
                entry.ns,
                entry.id,
                doc,
                version.as_ref().map_or(entry.hlc, |v| v.hlc),
                version.map_or_else(|| HUB_INSTANCE.to_string(), |v| v.origin),
            );
            bytes += change.approximate_bytes();
            changes.push(change);
        }
        Ok(DownloadReply {
            changes,
            next,
            last_seq: horizon,
            query_version: edge.record.query_version,
            query: edge.query.to_document(),
        })
    }

    /// A page of every document the edge's query matches, namespace by namespace in name
    /// order, `_id` order within. `position` is `{ns, after}` from the previous page (absent
    /// for the first; `after` is the last `_id` it examined). The edge applies the pages, then
    /// downloads from `hubSeq` (the hub's last sequence when the snapshot was asked for, sent
    /// back with each page).
    pub fn snapshot(
        &self,
        session: &SyncSession,
        position: Option<&SnapshotPosition>,
        limit: usize,
    ) -> Result<SnapshotReply> {
        let edge = {
            let _guard = self.locked();
            self.bound_edge(session)?
        };
        let limit = limit.clamp(1, MAX_BATCH_COUNT);
        let hub_seq = match position {
            Some(position) => position.hub_seq,
            None => u64_to_i64(self.store.last_seq()),
        };
        let mut namespaces = self.store.namespaces();
        namespaces.retain(|ns| {
            split_namespace(ns).is_ok_and(|(db, coll)| {
                edge.query.is_synced(db, coll) && !edge.query.is_ingest(db, coll)
            })
        });
        let start_ns = position.map(|p| p.ns.clone());
        let start_after = position.and_then(|p| p.after.as_ref());
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
            for doc in self.store.documents_after(ns, after)? {
                // A page ends when full, or after scanning SNAPSHOT_SCAN_LIMIT documents (so a
                // page over a large collection the query barely matches still answers quickly).
                if docs.len() >= limit || bytes >= MAX_BATCH_BYTES || scanned >= SNAPSHOT_SCAN_LIMIT
                {
                    return Ok(SnapshotReply {
                        docs,
                        position: Some(SnapshotPosition {
                            ns: ns.clone(),
                            after: last.or_else(|| after.cloned()),
                            hub_seq,
                        }),
                        done: false,
                        hub_seq,
                    });
                }
                let doc = doc?;
                scanned += 1;
                last = doc.get("_id").cloned();
                let synced = check_id(edge.record.service, &doc).is_ok()
                    && edge.query.matches(db, coll, &doc)? == QueryMatch::Matches;
                if !synced {
                    continue;
                }
                bytes += bson::to_vec(&doc).map_or(0, |b| b.len());
                docs.push(SnapshotItem {
                    ns: ns.clone(),
                    doc,
                });
            }
        }
        Ok(SnapshotReply {
            docs,
            position: None,
            done: true,
            hub_seq,
        })
    }
}
