//! Logical sessions this server has seen, as mongod's in-memory session cache: drivers attach
//! `lsid` to every command; `$listLocalSessions` lists them and `endSessions` removes them.
//! Each session also remembers its last retryable write (`txnNumber` outside a transaction) and
//! its reply, so a driver retrying it after a network error gets the same answer and the write
//! is applied once. These records live in memory: a restart forgets them. A session also
//! holds its multi-document transaction (see `crate::txn`): forgetting the session aborts it.
//!
//! The cache is bounded: an `lsid` must be `{id: UUID, uid?: SHA-256}` as mongod's
//! `LogicalSessionFromClient` is (so an entry is a few dozen bytes), and at most
//! [`MAX_SESSIONS`] are kept; past that a new session is refused with TooManyLogicalSessions
//! (261), as mongod does past `maxSessions`.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

struct Entry {
    id: Binary,
    last_use: bson::DateTime,
    touched: Instant,
    retry: RetrySlot,
    /// The session's multi-document transaction (dropped, and so aborted, with the session).
    txn: crate::txn::TxnSlot,
}

/// What a command's session offers it: its retryable-write slot and its transaction.
pub struct Slots {
    pub retry: RetrySlot,
    pub txn: crate::txn::TxnSlot,
}

/// A session's last retryable write: its transaction number and reply. Held locked while the
/// write runs, so a retry sent meanwhile on another connection waits for the outcome.
pub type RetrySlot = Arc<Mutex<Option<RetryRecord>>>;

#[derive(Debug, Clone)]
pub struct RetryRecord {
    pub txn_number: i64,
    pub reply: Document,
}

/// Sessions kept at most (mongod's `maxSessions` is 1,000,000; an entry here costs about
/// 100 bytes with the map's overhead, so this bounds the cache near 10 MB).
pub const MAX_SESSIONS: usize = 100_000;

/// Sessions unused this long are forgotten (`logicalSessionTimeoutMinutes`).
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How often a touch also forgets the expired sessions (a full pass over the map).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

const UUID_LEN: usize = 16;
const SHA256_LEN: usize = 32;

struct Sessions {
    map: HashMap<[u8; UUID_LEN], Entry>,
    pruned: Instant,
}

pub struct SessionCache {
    sessions: Mutex<Sessions>,
    capacity: usize,
    /// Transactions open now, bounded by [`crate::txn::MAX_OPEN_TRANSACTIONS`].
    pub open_transactions: Arc<AtomicUsize>,
}

impl Default for SessionCache {
    fn default() -> SessionCache {
        SessionCache::with_capacity(MAX_SESSIONS)
    }
}

/// The session id of a command's `lsid`, checked as mongod checks `LogicalSessionFromClient`.
pub fn parse_lsid(lsid: &Bson) -> Result<[u8; UUID_LEN]> {
    let Bson::Document(lsid) = lsid else {
        return Err(Error::type_mismatch(format!(
            "BSON field 'OperationSessionInfo.lsid' is the wrong type '{}', expected type 'object'",
            outpost_storage::value::compare::type_name(lsid)
        )));
    };
    let mut id = None;
    for (key, value) in lsid {
        match (key.as_str(), value) {
            ("id", Bson::Binary(b)) if b.subtype == BinarySubtype::Uuid => {
                id = Some(<[u8; UUID_LEN]>::try_from(b.bytes.as_slice()).map_err(|_| {
                    Error::new(
                        207,
                        "uuid must be a 16-byte binary field with UUID (4) subtype",
                    )
                })?);
            }
            ("id", _) => {
                return Err(Error::new(
                    207,
                    "uuid must be a 16-byte binary field with UUID (4) subtype",
                ))
            }
            ("uid", Bson::Binary(b)) if b.bytes.len() == SHA256_LEN => {}
            ("uid", _) => {
                return Err(Error::bad_value(
                    "BSON field 'OperationSessionInfo.lsid.uid' must be a 32-byte SHA-256 digest",
                ))
            }
            (other, _) => {
                return Err(Error::new(
                    40415,
                    format!("BSON field 'OperationSessionInfo.lsid.{other}' is an unknown field."),
                ))
            }
        }
    }
    id.ok_or_else(|| {
        Error::new(
            40414,
            "BSON field 'OperationSessionInfo.lsid.id' is missing but a required field",
        )
    })
}

impl SessionCache {
    /// A cache keeping at most `capacity` sessions.
    pub fn with_capacity(capacity: usize) -> SessionCache {
        SessionCache {
            sessions: Mutex::new(Sessions {
                map: HashMap::new(),
                pruned: Instant::now(),
            }),
            capacity,
            open_transactions: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a use of the session named by a command's `lsid` and returns its
    /// retryable-write and transaction slots; refuses an `lsid` of the wrong shape, and a new
    /// session when the cache is full.
    pub fn touch(&self, lsid: &Bson) -> Result<Slots> {
        let key = parse_lsid(lsid)?;
        let mut sessions = self.lock();
        let now = Instant::now();
        let is_new = !sessions.map.contains_key(&key);
        let full = is_new && sessions.map.len() >= self.capacity;
        if full || now.duration_since(sessions.pruned) >= PRUNE_EVERY {
            sessions
                .map
                .retain(|_, e| now.duration_since(e.touched) < TIMEOUT);
            sessions.pruned = now;
        }
        if is_new && sessions.map.len() >= self.capacity {
            return Err(Error::new(
                261,
                format!(
                    "Unable to add session into the cache because the number of active sessions \
                     is too high ({} sessions)",
                    self.capacity
                ),
            ));
        }
        let entry = sessions.map.entry(key).or_insert_with(|| Entry {
            id: Binary {
                subtype: BinarySubtype::Uuid,
                bytes: key.to_vec(),
            },
            last_use: bson::DateTime::now(),
            touched: now,
            retry: RetrySlot::default(),
            txn: crate::txn::TxnSlot::default(),
        });
        entry.last_use = bson::DateTime::now();
        entry.touched = now;
        Ok(Slots {
            retry: entry.retry.clone(),
            txn: entry.txn.clone(),
        })
    }

    /// Aborts the open transactions older than `limit_secs` (see [`crate::txn::abort_expired`]).
    pub fn abort_expired_transactions(&self, limit_secs: u64) -> usize {
        let sessions = self.lock();
        crate::txn::abort_expired(limit_secs, sessions.map.values().map(|e| &e.txn))
    }

    /// Forgets the given sessions (`endSessions`, `killSessions`), aborting their open
    /// transactions; malformed entries are skipped.
    pub fn end(&self, lsids: &[Bson]) {
        let mut sessions = self.lock();
        for lsid in lsids {
            if let Ok(key) = parse_lsid(lsid) {
                sessions.map.remove(&key);
            }
        }
    }

    /// How many sessions are cached (expired ones included until the next prune).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no session is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sessions as `$listLocalSessions` returns them: `{_id: {id, uid}, lastUse}`, where
    /// `uid` is the SHA-256 of the user name (empty: Outpost has no users yet).
    pub fn list(&self) -> Vec<Document> {
        let uid = Sha256::digest(b"").to_vec();
        let now = Instant::now();
        self.lock()
            .map
            .values()
            .filter(|e| now.duration_since(e.touched) < TIMEOUT)
            .map(|e| {
                doc! {
                    "_id": {
                        "id": e.id.clone(),
                        "uid": Binary { subtype: BinarySubtype::Generic, bytes: uid.clone() },
                    },
                    "lastUse": e.last_use,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(n: u8) -> Bson {
        Bson::Binary(Binary {
            subtype: BinarySubtype::Uuid,
            bytes: vec![n; UUID_LEN],
        })
    }

    #[test]
    fn lsid_shapes() {
        let ok = |lsid: Bson| parse_lsid(&lsid).is_ok();
        let code = |lsid: Bson| parse_lsid(&lsid).map_err(|e| e.code()).err();
        assert!(ok(Bson::Document(doc! {"id": uuid(1)})));
        let uid = Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![0; SHA256_LEN],
        };
        assert!(ok(Bson::Document(doc! {"id": uuid(1), "uid": uid})));
        assert_eq!(code(Bson::Int32(1)), Some(14));
        assert_eq!(code(Bson::Document(doc! {})), Some(40414));
        assert_eq!(code(Bson::Document(doc! {"id": 1})), Some(207));
        let long = Binary {
            subtype: BinarySubtype::Uuid,
            bytes: vec![0; 4 << 20],
        };
        assert_eq!(code(Bson::Document(doc! {"id": long})), Some(207));
        let generic = Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![0; UUID_LEN],
        };
        assert_eq!(code(Bson::Document(doc! {"id": generic})), Some(207));
        assert_eq!(
            code(Bson::Document(doc! {"id": uuid(1), "pad": "x"})),
            Some(40415)
        );
        assert_eq!(
            code(Bson::Document(doc! {"id": uuid(1), "uid": 1})),
            Some(2)
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = SessionCache::with_capacity(3);
        for n in 0..3 {
            cache
                .touch(&Bson::Document(doc! {"id": uuid(n)}))
                .expect("room");
        }
        // A known session is still touched; a new one is refused.
        cache
            .touch(&Bson::Document(doc! {"id": uuid(0)}))
            .expect("known");
        let refused = cache.touch(&Bson::Document(doc! {"id": uuid(9)}));
        assert_eq!(refused.map_err(|e| e.code()).err(), Some(261));
        assert_eq!(cache.len(), 3);
        cache.end(&[Bson::Document(doc! {"id": uuid(1)})]);
        cache
            .touch(&Bson::Document(doc! {"id": uuid(9)}))
            .expect("room again");
        assert_eq!(cache.list().len(), 3);
    }
}
