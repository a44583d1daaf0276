//! Logical sessions this server has seen, as mongod's in-memory session cache: drivers attach
//! `lsid` to every command; `$listLocalSessions` lists them and `endSessions` removes them.
//! Each session also remembers its last retryable write (`txnNumber` outside a transaction) and
//! its reply, so a driver retrying it after a network error gets the same answer and the write
//! is applied once. These records live in memory: a restart forgets them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use sha2::{Digest, Sha256};

struct Entry {
    lsid: Document,
    last_use: bson::DateTime,
    touched: Instant,
    retry: RetrySlot,
}

/// A session's last retryable write: its transaction number and reply. Held locked while the
/// write runs, so a retry sent meanwhile on another connection waits for the outcome.
pub type RetrySlot = Arc<Mutex<Option<RetryRecord>>>;

#[derive(Debug, Clone)]
pub struct RetryRecord {
    pub txn_number: i64,
    pub reply: Document,
}

#[derive(Default)]
pub struct SessionCache {
    sessions: Mutex<HashMap<Vec<u8>, Entry>>,
}

/// Sessions unused this long are forgotten (`logicalSessionTimeoutMinutes`).
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn session_key(lsid: &Document) -> Option<Vec<u8>> {
    match lsid.get("id") {
        Some(Bson::Binary(b)) => Some(b.bytes.clone()),
        _ => None,
    }
}

impl SessionCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a use of the session named by a command's `lsid`.
    pub fn touch(&self, lsid: &Document) {
        let _ = self.retry_slot(lsid);
    }

    /// Records a use of the session and returns its retryable-write slot (`None` when the
    /// `lsid` has no binary `id`).
    pub fn retry_slot(&self, lsid: &Document) -> Option<RetrySlot> {
        let key = session_key(lsid)?;
        let mut map = self.map();
        let now = Instant::now();
        map.retain(|_, e| now.duration_since(e.touched) < TIMEOUT);
        let entry = map.entry(key).or_insert_with(|| Entry {
            lsid: lsid.clone(),
            last_use: bson::DateTime::now(),
            touched: now,
            retry: RetrySlot::default(),
        });
        entry.last_use = bson::DateTime::now();
        entry.touched = now;
        Some(entry.retry.clone())
    }

    /// Forgets the given sessions (`endSessions`).
    pub fn end(&self, lsids: &[Bson]) {
        let mut map = self.map();
        for lsid in lsids {
            if let Some(key) = lsid.as_document().and_then(session_key) {
                map.remove(&key);
            }
        }
    }

    /// The sessions as `$listLocalSessions` returns them: `{_id: {id, uid}, lastUse}`, where
    /// `uid` is the SHA-256 of the user name (empty: Outpost has no users yet).
    pub fn list(&self) -> Vec<Document> {
        let uid = Sha256::digest(b"").to_vec();
        let now = Instant::now();
        self.map()
            .values()
            .filter(|e| now.duration_since(e.touched) < TIMEOUT)
            .map(|e| {
                doc! {
                    "_id": {
                        "id": e.lsid.get("id").cloned().unwrap_or(Bson::Null),
                        "uid": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: uid.clone() },
                    },
                    "lastUse": e.last_use,
                }
            })
            .collect()
    }
}
