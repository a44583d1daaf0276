//! The query change: the snapshot of what the new query matches, page by page (each checked
//! against the pending local changes, kept in a [`PendingScan`] across the pages), and the
//! removal of local copies the new query no longer covers.

use std::collections::HashMap;

use bson::{doc, Bson, Document};
use outpost_storage::value::keyenc;
use outpost_storage::Origin;

use super::upload::UploadBatch;
use super::{EdgeSync, Link, HUB_ORIGIN};
use crate::error::{Error, Result};
use crate::id_rules::check_id;
use crate::instance_query::{InstanceQuery, QueryMatch};
use crate::merge::LocalOp;
use crate::protocol::messages;
use crate::protocol::{split_namespace, Change};

/// Local changes not yet uploaded: (namespace, encoded `_id`) -> (clock, what they did).
pub(super) type PendingChanges = HashMap<(String, Vec<u8>), (u64, LocalOp)>;

/// The pending local changes found by scanning the history log up to `scanned`. A snapshot
/// keeps one across its pages and scans only what was written since (the upload cursor does
/// not move meanwhile: the engine is held), instead of the whole backlog, its earlier pages
/// included, for each page.
pub(super) struct PendingScan {
    pub(super) scanned: u64,
    pub(super) changes: PendingChanges,
}

impl PendingScan {
    /// Nothing scanned yet after the upload cursor.
    pub(super) fn after(upload_cursor: u64) -> PendingScan {
        PendingScan {
            scanned: upload_cursor,
            changes: PendingChanges::new(),
        }
    }
}

impl EdgeSync {
    /// The `_id`s of the local documents in the namespaces `old` or `new` syncs, by namespace
    /// and encoded `_id`.
    fn local_ids_in(
        &self,
        old: &InstanceQuery,
        new: &InstanceQuery,
    ) -> Result<HashMap<String, HashMap<Vec<u8>, Bson>>> {
        let mut ids: HashMap<String, HashMap<Vec<u8>, Bson>> = HashMap::new();
        for database in self.storage.database_names() {
            for collection in self.storage.list_collections(&database) {
                let (db, coll) = (database.as_str(), collection.name.as_str());
                // An ingest collection's documents are the edge's own: a query change never
                // removes or offers them.
                if collection.is_view
                    || collection.options.contains_key("timeseries")
                    || !(old.is_synced(db, coll) || new.is_synced(db, coll))
                    || old.is_ingest(db, coll)
                    || new.is_ingest(db, coll)
                {
                    continue;
                }
                let options = outpost_storage::FindOptions {
                    projection: Some(doc! {"_id": 1}),
                    ..outpost_storage::FindOptions::default()
                };
                let of_ns = ids.entry(format!("{db}.{coll}")).or_default();
                for doc in self.storage.find(db, coll, &options)? {
                    let id = doc?.get("_id").cloned().unwrap_or(Bson::Null);
                    of_ns.insert(keyenc::encode(&id), id);
                }
            }
        }
        Ok(ids)
    }

    /// The hub has a new query (or this is the first sync): fetch every document the new query
    /// matches, remove local copies of synced namespaces that no longer match, and continue
    /// downloading from the hub's sequence at the snapshot.
    pub(super) fn apply_query_change(
        &mut self,
        link: &mut dyn Link,
        query: Document,
        version: i64,
    ) -> Result<()> {
        let mut state = self.state()?.clone();
        let old_query = InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?;
        let new_query = InstanceQuery::parse(&query, &state.identity.default_db)?;
        tracing::info!(version, query = %query, "applying the hub's instance query");
        // The local documents of the namespaces either query syncs, by `_id` (keys only: a
        // new edge has none, and the documents the snapshot brings are never all in memory).
        // Those the snapshot sends are taken off; what is left decides below.
        let mut unreceived = self.local_ids_in(&old_query, &new_query)?;
        let mut scan = PendingScan::after(state.progress.upload_cursor);
        let mut newly_synced = Vec::new();
        let limit = Some(u64::try_from(self.options.batch_count).unwrap_or(500));
        let hub = self.hub_version;
        let page_request =
            |position| messages::request_to(&messages::Snapshot { position, limit }, hub);
        // With a pipelining link, the next page is asked for before this one is applied.
        let pipelined = link.pipelines();
        let mut request = None;
        match pipelined {
            true => link.send(page_request(None))?,
            false => request = Some(page_request(None)),
        }
        let hub_seq = loop {
            let reply = match request.take() {
                Some(request) => link.call(request)?,
                // Pipelined: the request went out before the previous page was applied.
                None => link.receive()?,
            };
            self.check_hub_reply(&reply)?;
            let reply: messages::SnapshotReply = messages::parse_owned(reply, "snapshot reply")?;
            if !reply.done {
                let position = reply.position.clone().ok_or_else(|| {
                    Error::protocol("a snapshot reply that is not done needs a position")
                })?;
                if pipelined {
                    link.send(page_request(Some(position)))?;
                } else {
                    request = Some(page_request(Some(position)));
                }
            }
            let mut page = Vec::with_capacity(reply.docs.len());
            for item in reply.docs {
                let id = item.doc.get("_id").cloned().unwrap_or(Bson::Null);
                if let Some(ids) = unreceived.get_mut(&item.ns) {
                    ids.remove(&keyenc::encode(&id));
                }
                page.push(Change::whole(
                    0,
                    item.ns,
                    id,
                    Some(item.doc),
                    0,
                    String::new(),
                ));
            }
            // Each page in one commit, checked against the local changes pending at that
            // moment (a document deleted here during the snapshot stays deleted).
            self.apply_changes_with(page, None, &[], &mut scan)?;
            if reply.done {
                break u64::try_from(reply.hub_seq).unwrap_or(0);
            }
        };
        // A document the snapshot sent matches the new query as the hub holds it, and is
        // held so here unless a local change of it waits for upload: nothing to do. Of the
        // others, local copies go (as hub-origin deletes, so they are not uploaded) when they
        // matched the old query and not the new one, or when the new query matches them but
        // the hub no longer has them (deleted at the hub while this edge was not listening)
        // and no local change of them waits for upload. Local-only documents (outside both
        // queries, or with an `_id` the service does not sync) are untouched.
        let mut candidates = Vec::new();
        for (ns, ids) in unreceived {
            let (db, coll) = split_namespace(&ns)?;
            for id in ids.into_values() {
                let filter = doc! {"_id": id};
                let options = outpost_storage::FindOptions {
                    filter,
                    limit: 1,
                    ..outpost_storage::FindOptions::default()
                };
                let Some(doc) = self.storage.find(db, coll, &options)?.next().transpose()? else {
                    continue;
                };
                let matched_before =
                    old_query.matches(db, coll, &doc).ok() == Some(QueryMatch::Matches);
                let matches_now =
                    new_query.matches(db, coll, &doc).ok() == Some(QueryMatch::Matches);
                let valid_id = check_id(state.identity.service, &doc).is_ok();
                candidates.push((ns.clone(), doc, matched_before, matches_now, valid_id));
            }
        }
        state.progress.query = query;
        state.progress.synced_query_version = version;
        state.progress.download_cursor = hub_seq;
        let upload_cursor = state.progress.upload_cursor;
        {
            // Which documents have pending local changes is decided under the writer lock, after
            // the scan: a write committed during the scan is pending (a write and its history
            // entry commit together), and none can come between this and the commit.
            let storage = self.storage.clone();
            let mut batch = storage.remote_batch();
            let pending = self.pending_local_changes(upload_cursor)?;
            for (ns, doc, matched_before, matches_now, valid_id) in candidates {
                let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
                let key = (ns, outpost_storage::value::keyenc::encode(&id));
                if pending.contains_key(&key) {
                    continue;
                }
                let unknown_at_hub = matches_now && valid_id;
                if matched_before && (!matches_now || unknown_at_hub) {
                    let (db, coll) = split_namespace(&key.0)?;
                    batch.put(db, coll, &id, None, &Origin::Peer(HUB_ORIGIN.into()));
                } else if unknown_at_hub {
                    // A local-only document the new query now covers: offer it to the hub.
                    newly_synced.push(Change::whole(0, key.0, id, Some(doc), 0, String::new()));
                }
            }
            self.store.stage_progress(&mut batch, &state.progress)?;
            batch.commit()?;
        }
        self.save_with(state, true)?;
        // Sequence 0 and clock 0: not from the history log (the hub does not check them
        // against the edge's upload sequence) and older than any version the hub has.
        for chunk in newly_synced.chunks(self.options.batch_count.max(1)) {
            self.upload(
                link,
                UploadBatch {
                    changes: chunk.to_vec(),
                    from_seq: upload_cursor,
                    last_seq: upload_cursor,
                    ..UploadBatch::default()
                },
            )?;
        }
        Ok(())
    }
}
