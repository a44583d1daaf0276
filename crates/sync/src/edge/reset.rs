//! A reset the hub requires (the edge was offline longer than its app's maximum offline time,
//! or a breaking schema change; see `hub::window`), done as Atlas Device Sync's client reset in
//! its "recover unsynced changes" mode: a fresh copy of the query's data from the hub, then the
//! local changes that never reached the hub re-applied on it.
//!
//! 1. [`EdgeSync::keep_unsynced`]: under the storage's writer lock, every local change after
//!    the upload cursor in a synced namespace is folded per document and kept in the recovery
//!    collection [`RECOVERY_DATABASE`]`.`[`RECOVERY_COLLECTION`] (`outcome: "pending"`), and the
//!    upload cursor moves past them, committed in one batch with the reset marker in the
//!    progress record. From here on a crash resumes the reset.
//! 2. `outpostSyncReset` tells the hub; it answers the query to download.
//! 3. The snapshot of the query replaces the local copies (as a query change does: documents
//!    the hub no longer has are removed).
//! 4. [`EdgeSync::reapply_unsynced`] re-applies each kept change as a new local write (it
//!    uploads as usual), in one batch with the outcomes and the cleared marker:
//!    - created here: re-inserted when it still matches the query (`reapplied`), else left out
//!      (`outside_query`: it stays only in the recovery collection);
//!    - updated here: the fields the local updates changed are set on the hub's version
//!      (`reapplied`), unless the hub deleted the document (`deleted_at_hub`: the delete wins,
//!      as in Device Sync) or the result no longer matches the query (`outside_query`);
//!    - deleted here: deleted again when the hub still has it (`reapplied`), else
//!      `already_deleted`.
//!
//! The recovery collection is local (its database is never synced) and is never cleared by
//! Outpost: an operator reads it (`resetId`, `reason`, `ns`, `documentId`, `op`, `doc`,
//! `fields`, `outcome`) and drops it when done.

use std::collections::{BTreeMap, BTreeSet};

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use outpost_storage::value::keyenc;
use outpost_storage::{split_field_path, FindOptions, HistoryOp, Origin, RemoteBatch};

use super::state::ResetMarker;
use super::{EdgeSync, Link, ResetSummary};
use crate::error::{Error, Result};
use crate::hub::RESET;
use crate::id_rules::{check_id, ServiceType};
use crate::instance_query::{is_internal_namespace, InstanceQuery, QueryMatch};
use crate::protocol::{split_namespace, with_version_for};

/// The database of the recovery collection (Outpost's own: never synced).
pub const RECOVERY_DATABASE: &str = "__outpost_recovery";
/// The recovery collection: one document per document with unsynced changes at a reset.
pub const RECOVERY_COLLECTION: &str = "changes";

/// The unsynced local changes of one document, folded.
struct Unsynced {
    ns: String,
    id: Bson,
    /// Its first unsynced change created it.
    created: bool,
    /// Its last unsynced change deleted it.
    deleted: bool,
    /// The top-level fields its updates changed; `None`: the whole document (an insert or a
    /// replace).
    fields: Option<BTreeSet<String>>,
}

impl Unsynced {
    fn new(ns: &str, id: &Bson, op: HistoryOp) -> Unsynced {
        Unsynced {
            ns: ns.to_string(),
            id: id.clone(),
            created: op == HistoryOp::Insert,
            deleted: false,
            fields: Some(BTreeSet::new()),
        }
    }

    fn add(&mut self, op: HistoryOp, changed: Option<&Vec<String>>) {
        match op {
            HistoryOp::Insert | HistoryOp::Replace => {
                self.fields = None;
                self.deleted = false;
            }
            HistoryOp::Update => {
                match (&mut self.fields, changed) {
                    (Some(fields), Some(changed)) => {
                        for path in changed {
                            if let Some(top) = split_field_path(path).first() {
                                fields.insert(top.to_string());
                            }
                        }
                    }
                    _ => self.fields = None,
                }
                self.deleted = false;
            }
            HistoryOp::Delete | HistoryOp::Drop => self.deleted = true,
        }
    }

    fn op(&self) -> &'static str {
        if self.deleted {
            "delete"
        } else if self.created {
            "insert"
        } else {
            "update"
        }
    }
}

/// Whether `doc` of `ns` is synced by `query` for `service`.
fn synced(query: &InstanceQuery, service: ServiceType, ns: &str, doc: &Document) -> bool {
    let Ok((db, coll)) = split_namespace(ns) else {
        return false;
    };
    check_id(service, doc).is_ok() && query.matches(db, coll, doc).ok() == Some(QueryMatch::Matches)
}

impl EdgeSync {
    /// Runs the reset the hub requires (`required`: its reason), or resumes one interrupted.
    pub(super) fn reset_if_needed(
        &mut self,
        link: &mut dyn Link,
        required: Option<String>,
    ) -> Result<()> {
        let marker = match (self.state()?.progress.reset.clone(), required) {
            (Some(marker), _) => marker,
            (None, Some(reason)) => self.keep_unsynced(&reason)?,
            (None, None) => return Ok(()),
        };
        tracing::warn!(reason = %marker.reason, "the hub requires a reset: downloading a fresh copy, unsynced changes kept in {RECOVERY_DATABASE}.{RECOVERY_COLLECTION}");
        let reply = link.call(with_version_for(doc! {RESET: 1}, self.hub_version))?;
        self.check_hub_reply(&reply)?;
        let query = reply
            .get_document("query")
            .map_err(|_| Error::protocol("reset reply without a query"))?
            .clone();
        let version = reply
            .get_i64("queryVersion")
            .map_err(|_| Error::protocol("reset reply without a queryVersion"))?;
        self.apply_query_change(link, query, version)?;
        let (kept, reapplied) = self.reapply_unsynced(&marker)?;
        tracing::info!(kept, reapplied, "reset finished");
        self.update_status(|s| {
            s.last_reset = Some(ResetSummary {
                finished: DateTime::now(),
                reason: marker.reason.clone(),
                kept,
                reapplied,
            });
        });
        Ok(())
    }

    /// Step 1: the unsynced local changes into the recovery collection, the upload cursor
    /// past them and the reset marker, in one commit.
    fn keep_unsynced(&mut self, reason: &str) -> Result<ResetMarker> {
        let mut state = self.state()?.clone();
        let query = InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?;
        let service = state.identity.service;
        let storage = self.storage.clone();
        let mut batch = storage.remote_batch();
        let mut last_seq = state.progress.upload_cursor;
        let mut unsynced: BTreeMap<(String, Vec<u8>), Unsynced> = BTreeMap::new();
        for entry in storage.history_from(last_seq.saturating_add(1)) {
            let entry = entry?;
            last_seq = entry.seq;
            let Ok((db, coll)) = split_namespace(&entry.ns) else {
                continue;
            };
            if entry.origin != Origin::Local
                || entry.op == HistoryOp::Drop
                || is_internal_namespace(db, coll)
                || !query.is_synced(db, coll)
            {
                // (A collection dropped here is not re-applied: the hub's copy comes back.)
                continue;
            }
            unsynced
                .entry((entry.ns.clone(), keyenc::encode(&entry.id)))
                .or_insert_with(|| Unsynced::new(&entry.ns, &entry.id, entry.op))
                .add(entry.op, entry.changed_fields.as_ref());
        }
        let marker = ResetMarker {
            id: ObjectId::new().to_hex(),
            reason: reason.to_string(),
            started: DateTime::now(),
        };
        for mut change in unsynced.into_values() {
            let (db, coll) = split_namespace(&change.ns)?;
            let doc = match change.deleted {
                true => None,
                false => batch.get(db, coll, &change.id)?,
            };
            // (Gone without a delete of its own: a local drop of its collection.)
            change.deleted = doc.is_none();
            let local_only = doc
                .as_ref()
                .is_some_and(|doc| change.created && !synced(&query, service, &change.ns, doc));
            if local_only || (change.created && doc.is_none()) {
                // Never meant for the hub (outside the query), or created and deleted here.
                continue;
            }
            keep(&mut batch, &marker, &change, doc);
        }
        state.progress.reset = Some(marker.clone());
        state.progress.upload_cursor = last_seq;
        self.store.stage_progress(&mut batch, &state.progress)?;
        batch.commit()?;
        self.save_with(state, true)?;
        self.update_status(|s| s.upload_cursor = last_seq);
        Ok(marker)
    }

    /// Step 4: the kept changes of reset `marker` re-applied on the fresh copy; returns how
    /// many were kept and how many re-applied.
    fn reapply_unsynced(&mut self, marker: &ResetMarker) -> Result<(u64, u64)> {
        let mut state = self.state()?.clone();
        let query = InstanceQuery::parse(&state.progress.query, &state.identity.default_db)?;
        let service = state.identity.service;
        let storage = self.storage.clone();
        let kept = storage
            .find(
                RECOVERY_DATABASE,
                RECOVERY_COLLECTION,
                &FindOptions {
                    filter: doc! {"resetId": &marker.id},
                    ..FindOptions::default()
                },
            )?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut batch = storage.remote_batch();
        let mut reapplied = 0;
        for mut record in kept.iter().cloned() {
            if record.get_str("outcome") != Ok("pending") {
                continue;
            }
            let outcome = reapply_one(&mut batch, &query, service, &record)?;
            if outcome == "reapplied" {
                reapplied += 1;
            }
            record.insert("outcome", outcome);
            let id = record.get("_id").cloned().unwrap_or(Bson::Null);
            batch.put(
                RECOVERY_DATABASE,
                RECOVERY_COLLECTION,
                &id,
                Some(record),
                &Origin::Local,
            );
        }
        state.progress.reset = None;
        self.store.stage_progress(&mut batch, &state.progress)?;
        batch.commit()?;
        self.save_with(state, true)?;
        Ok((u64::try_from(kept.len()).unwrap_or(u64::MAX), reapplied))
    }
}

/// Stages the recovery record of one document's unsynced changes (`doc`: its local state).
fn keep(batch: &mut RemoteBatch, marker: &ResetMarker, change: &Unsynced, doc: Option<Document>) {
    let fields = change.fields.as_ref().map_or(Bson::Null, |fields| {
        Bson::Array(fields.iter().cloned().map(Bson::String).collect())
    });
    let id = Bson::ObjectId(ObjectId::new());
    let record = doc! {
        "_id": id.clone(),
        "resetId": &marker.id,
        "resetAt": marker.started,
        "reason": &marker.reason,
        "ns": &change.ns,
        "documentId": change.id.clone(),
        "op": change.op(),
        "doc": doc.map_or(Bson::Null, Bson::Document),
        "fields": fields,
        "outcome": "pending",
    };
    batch.put(
        RECOVERY_DATABASE,
        RECOVERY_COLLECTION,
        &id,
        Some(record),
        &Origin::Local,
    );
}

/// Re-applies one kept change on the fresh copy (as a local write, so it uploads); returns
/// its outcome (see the module documentation).
fn reapply_one(
    batch: &mut RemoteBatch,
    query: &InstanceQuery,
    service: ServiceType,
    record: &Document,
) -> Result<&'static str> {
    let bad = |field: &str| Error::protocol(format!("recovery record without a valid '{field}'"));
    let ns = record.get_str("ns").map_err(|_| bad("ns"))?;
    let (db, coll) = split_namespace(ns)?;
    let id = record.get("documentId").ok_or_else(|| bad("documentId"))?;
    let current = batch.get(db, coll, id)?;
    let local = record.get_document("doc").ok();
    let op = record.get_str("op").map_err(|_| bad("op"))?;
    let result = match (op, current, local) {
        ("delete", Some(_), _) => {
            batch.put(db, coll, id, None, &Origin::Local);
            return Ok("reapplied");
        }
        ("delete", None, _) => return Ok("already_deleted"),
        ("insert", _, Some(local)) => local.clone(),
        ("update", None, _) => return Ok("deleted_at_hub"),
        ("update", Some(current), Some(local)) => match record.get_array("fields") {
            Ok(fields) => {
                let mut merged = current;
                for field in fields.iter().filter_map(Bson::as_str) {
                    match local.get(field) {
                        Some(value) => merged.insert(field, value.clone()),
                        None => merged.remove(field),
                    };
                }
                merged
            }
            Err(_) => local.clone(),
        },
        _ => return Err(bad("doc")),
    };
    if !synced(query, service, ns, &result) {
        return Ok("outside_query");
    }
    batch.put(db, coll, id, Some(result), &Origin::Local);
    Ok("reapplied")
}

#[cfg(test)]
mod tests {
    use outpost_storage::{Storage, WriteOptions};

    use super::*;
    use crate::edge::EdgeOptions;
    use crate::hub::{Hub, SyncSession};

    /// A link to an in-process hub that loses the connection at the first `outpostSyncReset`
    /// when `fail_reset` is set (a crash right after the edge kept its changes).
    struct HubLink<'a> {
        hub: &'a Hub,
        session: SyncSession,
        bound: Option<String>,
        fail_reset: bool,
    }

    impl Link for HubLink<'_> {
        fn call(&mut self, command: Document) -> Result<Document> {
            if self.fail_reset && command.contains_key(RESET) {
                return Err(Error::Link("connection reset".into()));
            }
            self.hub.handle(&mut self.session, &command)
        }

        fn bound_edge(&self) -> Option<&str> {
            self.bound.as_deref()
        }

        fn set_bound_edge(&mut self, edge_id: String) {
            self.bound = Some(edge_id);
        }
    }

    fn link(hub: &Hub, fail_reset: bool) -> HubLink<'_> {
        HubLink {
            hub,
            session: SyncSession::default(),
            bound: None,
            fail_reset,
        }
    }

    fn ids(storage: &Storage, db: &str, coll: &str) -> Vec<Bson> {
        let mut ids: Vec<Bson> = storage
            .find(db, coll, &FindOptions::default())
            .unwrap()
            .map(|doc| doc.unwrap().get("_id").cloned().unwrap())
            .collect();
        ids.sort_by(outpost_storage::value::compare);
        ids
    }

    #[test]
    fn an_interrupted_reset_resumes_and_keeps_each_unsynced_change_once() {
        let hub_storage = Storage::temporary().unwrap();
        let hub = Hub::new(hub_storage.clone()).unwrap();
        let (record, key) = hub
            .create_edge_in(None, "e", ServiceType::EdgeServer, None, "shop")
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::temporary().unwrap();
        let options = EdgeOptions {
            registration_key: Some(key),
            state_dir: Some(dir.path().to_path_buf()),
            ..EdgeOptions::default()
        };
        let mut engine = EdgeSync::new(storage.clone(), options.clone()).unwrap();
        let (a, b) = (
            Bson::ObjectId(ObjectId::new()),
            Bson::ObjectId(ObjectId::new()),
        );
        let insert = |id: &Bson| {
            storage
                .insert(
                    "shop",
                    "items",
                    doc! {"_id": id.clone()},
                    &WriteOptions::default(),
                )
                .unwrap();
        };
        insert(&a);
        engine.sync_once(&mut link(&hub, false)).unwrap();
        assert_eq!(ids(&hub_storage, "shop", "items"), std::slice::from_ref(&a));

        // B is written and never uploaded; the hub requires a reset, and the connection is
        // lost right after the edge kept its unsynced change.
        insert(&b);
        hub.require_reset(&record.id, "test reset").unwrap();
        let lost = engine.sync_once(&mut link(&hub, true)).unwrap_err();
        assert!(matches!(lost, Error::Link(_)), "{lost}");
        drop(engine);

        // Restarted: the reset resumes from its marker, B is re-applied and reaches the hub.
        let mut engine = EdgeSync::new(storage.clone(), options).unwrap();
        engine.sync_once(&mut link(&hub, false)).unwrap();
        engine.sync_once(&mut link(&hub, false)).unwrap();
        let mut expected = vec![a, b.clone()];
        expected.sort_by(outpost_storage::value::compare);
        assert_eq!(ids(&hub_storage, "shop", "items"), expected);
        assert_eq!(ids(&storage, "shop", "items"), expected);
        let kept: Vec<Document> = storage
            .find(
                RECOVERY_DATABASE,
                RECOVERY_COLLECTION,
                &FindOptions::default(),
            )
            .unwrap()
            .map(|doc| doc.unwrap())
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].get("documentId"), Some(&b));
        assert_eq!(kept[0].get_str("op"), Ok("insert"));
        assert_eq!(kept[0].get_str("outcome"), Ok("reapplied"));
        assert_eq!(kept[0].get_str("reason"), Ok("test reset"));
        let status = engine.status();
        let status = status.lock().unwrap();
        let summary = status.last_reset.as_ref().unwrap();
        assert_eq!((summary.kept, summary.reapplied), (1, 1));
        let instance = hub.edge(&record.id).unwrap().unwrap();
        assert_eq!(instance.status().0, "active");
        assert_eq!(instance.last_reset.unwrap().reason, "test reset");
    }
}
