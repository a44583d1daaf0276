//! The offline window and resets.
//!
//! Each edge has a maximum offline time (its Admin API app's `client_max_offline_days`, 30
//! days for instances of no app; the server tells the hub through [`Hub::set_offline_windows`]).
//! The hub's history is kept only for edges inside their window: an edge not heard from for
//! longer no longer holds back trimming ([`Hub::history_floor`]), and when it comes back the
//! hub requires a reset, as Atlas Device Sync's client maximum offline time does: its hello
//! answer carries `reset: {reason}`, uploads and downloads are refused with
//! [`RESET_REQUIRED`] until the edge begins the reset with `outpostSyncReset`. The edge keeps
//! its unsynced changes in its recovery collection, downloads a fresh copy of its query's data
//! and re-applies the recovered changes that still match (see `edge::reset`). The instance
//! shows `failed` with the reason until then. A breaking schema change requires the same
//! ([`Hub::require_reset`]).
//!
//! The hub's clock (`Hub::now`) is the system clock plus an offset that only a test moves
//! (`outpostHubAdvanceClock`, with `--enable-test-commands`), so a test can make an edge
//! "offline for 31 days" at once. It dates what the registry records of an edge's contacts
//! (hello, downloads) and the window; the history's clocks are never shifted.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, DateTime, Document};

use super::records::{EdgeRecord, ResetRecord};
use super::{Hub, HubMemory, HubStore, SyncSession};
use crate::error::{Error, Result};

/// The sync command that begins a reset the hub required (see the module documentation).
pub const RESET: &str = "outpostSyncReset";
/// The code of uploads and downloads refused until the edge resets (ChangeStreamHistoryLost:
/// the history the edge needs may be gone).
pub const RESET_REQUIRED: i32 = 286;
/// An edge's maximum offline time when its app does not say (Atlas' default).
pub const DEFAULT_MAX_OFFLINE_DAYS: u64 = 30;
const DAY_MS: i64 = 86_400_000;

/// An edge's maximum offline time, given its record.
pub type OfflineWindows = Arc<dyn Fn(&EdgeRecord) -> Duration + Send + Sync>;

impl<S: HubStore> Hub<S> {
    /// The hub's clock: the system's, moved by [`Hub::advance_clock`] in tests.
    pub fn now(&self) -> DateTime {
        let offset = self.clock_offset_ms.load(Ordering::SeqCst);
        DateTime::from_millis(DateTime::now().timestamp_millis().saturating_add(offset))
    }

    /// Moves the hub's clock forward by `by` (tests only: `outpostHubAdvanceClock`); returns
    /// the new time.
    pub fn advance_clock(&self, by: Duration) -> DateTime {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.clock_offset_ms.fetch_add(ms, Ordering::SeqCst);
        self.now()
    }

    /// Sets how long each edge may stay offline (the server reads its apps' settings).
    pub fn set_offline_windows(&self, windows: OfflineWindows) {
        *self
            .offline_windows
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(windows);
    }

    /// The edge's maximum offline time.
    pub fn offline_window(&self, record: &EdgeRecord) -> Duration {
        let windows = self
            .offline_windows
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match windows.as_ref() {
            Some(windows) => windows(record),
            None => Duration::from_millis(DEFAULT_MAX_OFFLINE_DAYS * DAY_MS as u64),
        }
    }

    /// Whether the registered edge was last heard from longer ago than its window allows
    /// (`last_seen`: the hub's in-memory note of it, newer than the record's).
    pub(super) fn past_window(&self, record: &EdgeRecord, last_seen: Option<DateTime>) -> bool {
        if !record.registration_key_used {
            return false;
        }
        let Some(contact) = [last_seen, record.last_seen, record.last_connection]
            .into_iter()
            .flatten()
            .max()
        else {
            return false;
        };
        let window = i64::try_from(self.offline_window(record).as_millis()).unwrap_or(i64::MAX);
        self.now()
            .timestamp_millis()
            .saturating_sub(contact.timestamp_millis())
            > window
    }

    /// At a hello with a working key, before the connection is noted: an edge back from longer
    /// than its window is required to reset. The caller stores the record.
    pub(super) fn check_window(&self, memory: &HubMemory, record: &mut EdgeRecord) {
        if record.reset.is_some()
            || !self.past_window(record, memory.last_seen.get(&record.id).copied())
        {
            return;
        }
        let days = self.offline_window(record).as_secs() / 86_400;
        let reason = format!(
            "offline longer than the app's maximum offline time ({days} days): the hub no \
             longer has the history this edge needs, so it is reset (its unsynced changes are \
             kept in its recovery collection and re-applied where they still match its query)"
        );
        tracing::warn!(edge = %record.id, "{reason}");
        record.reset = Some(ResetRecord {
            reason,
            time: self.now(),
        });
    }

    /// Requires the edge to reset at its next request (a breaking schema change, say): its
    /// uploads and downloads are refused until it begins the reset.
    pub fn require_reset(&self, id: &str, reason: &str) -> Result<()> {
        let _guard = self.locked();
        let mut record = self.edge_by_id(id)?;
        if !record.registration_key_used {
            return Ok(());
        }
        record.reset = Some(ResetRecord {
            reason: reason.to_string(),
            time: self.now(),
        });
        record.failure = Some(reason.to_string());
        self.store.put_edge(&record)
    }

    /// Uploads and downloads of an edge that must reset first are refused.
    pub(super) fn refuse_while_resetting(&self, edge: &EdgeRecord) -> Result<()> {
        match &edge.reset {
            Some(reset) => Err(Error::Coded {
                code: RESET_REQUIRED,
                message: format!(
                    "edge instance {} must reset before it syncs again: {}",
                    edge.id, reset.reason
                ),
            }),
            None => Ok(()),
        }
    }

    /// `outpostSyncReset`: the bound edge has kept its unsynced changes and begins its reset.
    /// The instance is active again; the reply gives the query the edge downloads afresh
    /// (`{query, queryVersion}`). Harmless to repeat (an edge resuming an interrupted reset).
    pub(super) fn begin_reset(&self, session: &SyncSession) -> Result<Document> {
        let mut memory = self.locked();
        let mut record = self.bound_edge(session)?.record;
        let now = self.now();
        if let Some(reset) = record.reset.take() {
            record.last_reset = Some(ResetRecord {
                reason: reset.reason.clone(),
                time: now,
            });
            self.note_log(
                &record.id,
                format!("the edge began a reset: {}", reset.reason),
            )?;
        }
        record.failure = None;
        record.last_seen = Some(now);
        memory.last_seen.insert(record.id.clone(), now);
        self.store.put_edge(&record)?;
        Ok(doc! {
            "query": record.query.clone(),
            "queryVersion": record.query_version,
            RESET: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id_rules::ServiceType;
    use outpost_storage::Storage;

    fn registered(hub: &Hub) -> EdgeRecord {
        let (record, key) = hub
            .create_edge_in(None, "e", ServiceType::EdgeServer, None, "test")
            .unwrap();
        hub.register(&key).unwrap();
        hub.edge(&record.id).unwrap().unwrap()
    }

    #[test]
    fn an_edge_is_past_its_window_only_when_the_hub_clock_passes_it() {
        let hub = Hub::new(Storage::temporary().unwrap()).unwrap();
        let record = registered(&hub);
        assert!(!hub.past_window(&record, None));
        hub.advance_clock(Duration::from_millis(29 * DAY_MS as u64));
        assert!(!hub.past_window(&record, None));
        hub.advance_clock(Duration::from_millis(2 * DAY_MS as u64));
        assert!(hub.past_window(&record, None));
        // A window of the edge's app applies.
        hub.set_offline_windows(Arc::new(|_| Duration::from_millis(60 * DAY_MS as u64)));
        assert!(!hub.past_window(&record, None));
        // A contact noted in memory counts.
        assert!(!hub.past_window(&record, Some(hub.now())));
    }

    #[test]
    fn an_edge_back_after_its_window_is_reset_and_no_longer_holds_back_the_history() {
        use crate::protocol::{with_version, DOWNLOAD, HELLO};
        let storage = Storage::temporary().unwrap();
        let hub = Hub::new(storage.clone()).unwrap();
        let (record, key) = hub
            .create_edge_in(None, "e", ServiceType::EdgeServer, None, "test")
            .unwrap();
        let mut session = SyncSession::default();
        let registered = hub
            .handle(
                &mut session,
                &with_version(doc! {HELLO: 1, "registrationKey": key}),
            )
            .unwrap();
        let api_key = registered.get_str("apiKey").unwrap().to_string();
        storage
            .insert("test", "c", doc! {"_id": 1}, &Default::default())
            .unwrap();
        // The edge downloads from 0: the hub's write is versioned, the edge holds the floor.
        hub.download(&session, 0, 1).unwrap();
        assert_eq!(hub.history_floor().unwrap(), 0);
        hub.advance_clock(Duration::from_millis(31 * DAY_MS as u64));
        assert_eq!(hub.history_floor().unwrap(), storage.last_seq());

        // Back after the window: the hello requires a reset, and until the edge begins it
        // its downloads are refused and the instance is failed with the reason.
        let mut back = SyncSession::default();
        let hello = hub
            .handle(
                &mut back,
                &with_version(doc! {HELLO: 1, "apiKey": &api_key}),
            )
            .unwrap();
        let reason = hello
            .get_document("reset")
            .unwrap()
            .get_str("reason")
            .unwrap();
        assert!(reason.contains("30 days"), "{reason}");
        let download = with_version(doc! {DOWNLOAD: 1, "after": 0_i64});
        let refused = hub.handle(&mut back, &download).unwrap_err();
        assert_eq!(refused.code(), RESET_REQUIRED);
        let failed = hub.edge(&record.id).unwrap().unwrap();
        assert_eq!(failed.status().0, "failed");
        let begun = hub
            .handle(&mut back, &with_version(doc! {RESET: 1}))
            .unwrap();
        assert_eq!(begun.get_i64("queryVersion").unwrap(), 1);
        hub.handle(&mut back, &download).unwrap();
        let active = hub.edge(&record.id).unwrap().unwrap();
        assert_eq!(active.status().0, "active");
        assert!(active.last_reset.unwrap().reason.contains("offline"));
        // A second hello right after needs no reset.
        let again = hub
            .handle(
                &mut back,
                &with_version(doc! {HELLO: 1, "apiKey": &api_key}),
            )
            .unwrap();
        assert!(again.get("reset").is_none(), "{again}");
        hub.require_reset("nope", "x").unwrap_err();
    }
}
