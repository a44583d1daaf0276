//! The sync protocol's shared vocabulary: one change as it travels between edge and hub, the
//! command names, keys and their hashes, and small argument readers.
//!
//! Every sync request is a command document on the hub's wire-protocol port (database
//! `admin`): `outpostSyncHello` first on each connection (it authenticates the edge with its
//! API key, or registers it with a one-time registration key, and binds the connection to
//! that edge), then `outpostSyncUpload`, `outpostSyncDownload`, `outpostSyncSnapshot`, which
//! carry no key; and the admin commands `outpostHubCreateEdge`, `outpostHubListEdges`,
//! `outpostHubSetEdgeQuery`, `outpostHubDeleteEdge`.

use std::io::Read;

use bson::{Bson, Document};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

mod change;
pub mod messages;

pub use change::{Change, Op, Update};

pub const HELLO: &str = "outpostSyncHello";
pub const UPLOAD: &str = "outpostSyncUpload";
pub const DOWNLOAD: &str = "outpostSyncDownload";
pub const SNAPSHOT: &str = "outpostSyncSnapshot";
pub const CREATE_EDGE: &str = "outpostHubCreateEdge";
pub const LIST_EDGES: &str = "outpostHubListEdges";
pub const SET_EDGE_QUERY: &str = "outpostHubSetEdgeQuery";
pub const DELETE_EDGE: &str = "outpostHubDeleteEdge";
/// The edge's periodic report to the hub: its metrics and new log records (protocol 3.0, optional).
pub const REPORT: &str = "outpostSyncReport";

/// The sync protocol's version: `major.minor`. Peers of another major version refuse each
/// other with a clear error; a minor version only adds optional fields. Every request of an
/// edge and every reply of a hub carries it (`protocolVersion`); a peer that sends none speaks
/// 2.0 or older.
///
/// 3.0: a connection starts with `outpostSyncHello` and is bound to one edge; requests carry
/// no API key (2.0 sent the key with every request).
/// 3.1: an edge may upload an update as a field delta (`partial: true`, see [`crate::delta`])
/// to a hub that speaks 3.1; the hub answers `needFull` for a delta of a document it does not
/// hold, and the edge sends that batch again with whole documents.
/// 3.2: ingest collections and time-series buckets (an upload's `timeseries`); an edge
/// uploads time-series buckets only to a hub of 3.2 or later (an older hub would acknowledge
/// and drop them).
/// 3.3: the version is exchanged once per connection, by the hello and its reply. An edge
/// that a hub of 3.3 or later answered leaves it out of its later requests on that
/// connection, and the hub leaves it out of the replies to requests without it (25 bytes
/// each way on a thin link). A request that carries it is answered with it, as before. A
/// field delta whose `fields` are exactly its document's keys leaves them out.
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion { major: 3, minor: 3 };
/// The first version whose hubs take field deltas.
pub const DELTAS_SINCE: ProtocolVersion = ProtocolVersion { major: 3, minor: 1 };
/// The first version whose hubs take time-series buckets.
pub const TIMESERIES_SINCE: ProtocolVersion = ProtocolVersion { major: 3, minor: 2 };
/// The first version whose hubs read a field delta without `fields` as changing exactly
/// its document's fields.
pub const FIELDS_IMPLIED_SINCE: ProtocolVersion = ProtocolVersion { major: 3, minor: 3 };
/// The first version that exchanges the version only at hello.
pub const VERSION_AT_HELLO_SINCE: ProtocolVersion = ProtocolVersion { major: 3, minor: 3 };
/// What a peer that sends no `protocolVersion` (and negotiated none) speaks (at most).
const UNVERSIONED: ProtocolVersion = ProtocolVersion { major: 2, minor: 0 };

/// A sync protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl ProtocolVersion {
    fn parse(text: &str) -> Option<ProtocolVersion> {
        let (major, minor) = text.split_once('.')?;
        Some(ProtocolVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

/// Adds this side's `protocolVersion` to a request or reply.
pub fn with_version(mut message: Document) -> Document {
    message.insert("protocolVersion", PROTOCOL_VERSION.to_string());
    message
}

/// `message` with this side's `protocolVersion` unless `peer` (the version the peer's hello
/// or hello reply gave on this connection) is [`VERSION_AT_HELLO_SINCE`] or later.
pub fn with_version_for(message: Document, peer: Option<ProtocolVersion>) -> Document {
    if peer.is_some_and(|peer| peer >= VERSION_AT_HELLO_SINCE) {
        message
    } else {
        with_version(message)
    }
}

/// The version of a message from a peer that gave `negotiated` at hello on this connection:
/// the message's own `protocolVersion`, checked as [`check_peer_version`] does, or, when it
/// carries none and the peer negotiated 3.3 or later, the negotiated one.
pub fn message_version(
    message: &Document,
    peer: &str,
    negotiated: Option<ProtocolVersion>,
) -> Result<ProtocolVersion> {
    match negotiated {
        Some(version)
            if version >= VERSION_AT_HELLO_SINCE && !message.contains_key("protocolVersion") =>
        {
            Ok(version)
        }
        _ => check_peer_version(message, peer),
    }
}

/// Checks the `protocolVersion` a peer sent (`peer` names it in the error: "edge", "hub"):
/// another major version is refused with an error that names both.
pub fn check_peer_version(message: &Document, peer: &str) -> Result<ProtocolVersion> {
    let theirs = match message.get("protocolVersion") {
        None => UNVERSIONED,
        Some(value) => value
            .as_str()
            .and_then(ProtocolVersion::parse)
            .ok_or_else(|| {
                Error::protocol(format!(
                    "invalid protocolVersion {value}: expected \"MAJOR.MINOR\""
                ))
            })?,
    };
    if theirs.major == PROTOCOL_VERSION.major {
        return Ok(theirs);
    }
    let older = if theirs.major < PROTOCOL_VERSION.major {
        format!("the {peer}")
    } else {
        "this side".to_string()
    };
    Err(Error::Coded {
        code: INCOMPATIBLE_PROTOCOL,
        message: format!(
            "incompatible sync protocol: the {peer} speaks {theirs} and this side speaks {PROTOCOL_VERSION}; upgrade {older} (local reads and writes continue meanwhile)"
        ),
    })
}

/// The error code of an incompatible protocol version (MongoDB's IncompatibleServerVersion).
pub const INCOMPATIBLE_PROTOCOL: i32 = 188;

/// How far ahead of this machine's clock a peer's clock may be. A change stamped later is
/// refused, never adopted: adopting it would move every later local write's clock with it
/// (a clock near 2^63 would stop all writes).
pub const MAX_CLOCK_AHEAD_MS: u64 = 60 * 60 * 1000;

/// Checks a change received from a peer before anything adopts its clock or walks its
/// fields: a hybrid logical clock (milliseconds in the high 48 bits) at most
/// [`MAX_CLOCK_AHEAD_MS`] ahead of this machine's, and field paths of at most
/// `MAX_PATH_COMPONENTS` components (as every path a client sends).
pub fn check_received_change(change: &Change) -> Result<()> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let change_ms = change.hlc >> 16;
    if change_ms > now_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
        return Err(Error::Coded {
            code: 2,
            message: format!(
                "a change of {} is stamped {} s ahead of this machine's clock (at most {} s are accepted): the sender's clock is wrong; it was refused, not adopted",
                change.ns,
                (change_ms - now_ms) / 1000,
                MAX_CLOCK_AHEAD_MS / 1000
            ),
        });
    }
    let Op::Update(update) = &change.op else {
        return Ok(());
    };
    let paths = update.fields.iter().map(String::as_str).chain(
        update
            .increments
            .iter()
            .flat_map(|inc| inc.keys().map(String::as_str)),
    );
    for path in paths {
        if outpost_storage::split_field_path(path).len()
            > outpost_storage::value::path::MAX_PATH_COMPONENTS
        {
            return Err(Error::Coded {
                code: 15,
                message: format!(
                    "a change of {} names a field path of more than {} components",
                    change.ns,
                    outpost_storage::value::path::MAX_PATH_COMPONENTS
                ),
            });
        }
    }
    Ok(())
}

/// Largest number of changes in one upload or download batch.
pub const MAX_BATCH_COUNT: usize = 5_000;
/// Largest total BSON size of the documents in one batch: well under the 16 MB document limit
/// (the batch travels inside one reply or request document).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Splits `database.collection` at the first dot.
pub fn split_namespace(ns: &str) -> Result<(&str, &str)> {
    match ns.split_once('.') {
        Some((db, coll)) if !db.is_empty() && !coll.is_empty() => Ok((db, coll)),
        _ => Err(Error::protocol(format!(
            "invalid namespace '{ns}': expected 'database.collection'"
        ))),
    }
}

/// Sequence numbers and clocks travel as int64 (BSON has no unsigned type).
pub fn u64_to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Reads a non-negative integer field (int32, int64 or a whole double).
pub fn read_u64(doc: &Document, field: &str) -> Result<u64> {
    let value = match doc.get(field) {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(f)) if f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e18 => {
            // Checked above: a whole number in range.
            #[allow(clippy::cast_possible_truncation)]
            let n = *f as i64;
            n
        }
        Some(other) => {
            return Err(Error::protocol(format!(
                "'{field}' must be a non-negative integer, not {other}"
            )))
        }
        None => return Err(Error::protocol(format!("missing field '{field}'"))),
    };
    u64::try_from(value)
        .map_err(|_| Error::protocol(format!("'{field}' must be a non-negative integer")))
}

/// Reads a required string field.
pub fn read_str<'a>(doc: &'a Document, field: &str) -> Result<&'a str> {
    doc.get_str(field)
        .map_err(|_| Error::protocol(format!("'{field}' must be a string")))
}

/// The SHA-256 of a key, hex-encoded: the hub stores only hashes of keys.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// A new random key: 32 bytes from the operating system, 64 hex characters.
pub fn random_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(|error| Error::Coded {
            code: 1,
            message: format!("cannot read random bytes from /dev/urandom: {error}"),
        })?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn peers_of_another_major_version_are_refused_by_name() {
        assert!(check_peer_version(&with_version(doc! {}), "edge").is_ok());
        assert!(check_peer_version(&doc! {"protocolVersion": "3.7"}, "edge").is_ok());
        let error = check_peer_version(&doc! {"protocolVersion": "2.0"}, "edge").unwrap_err();
        assert_eq!(error.code(), INCOMPATIBLE_PROTOCOL);
        let message = error.to_string();
        assert!(
            message.contains("2.0") && message.contains(&PROTOCOL_VERSION.to_string()),
            "{message}"
        );
        assert!(message.contains("upgrade the edge"), "{message}");
        // A peer without a version predates 3.0 (it sends its API key with every request).
        let error = check_peer_version(&doc! {}, "edge").unwrap_err();
        assert_eq!(error.code(), INCOMPATIBLE_PROTOCOL);
        let error = check_peer_version(&doc! {"protocolVersion": "4.1"}, "hub").unwrap_err();
        assert!(error.to_string().contains("upgrade this side"), "{error}");
        let error = check_peer_version(&doc! {"protocolVersion": 2}, "hub").unwrap_err();
        assert_eq!(error.code(), 9);
    }

    #[test]
    fn the_version_is_exchanged_at_hello_from_3_3() {
        let v = |major, minor| ProtocolVersion { major, minor };
        // To a peer of 3.3 or later, later messages go without it; to others, or before
        // hello, with it.
        assert_eq!(
            with_version_for(doc! {"a": 1}, Some(v(3, 3))),
            doc! {"a": 1}
        );
        assert_eq!(
            with_version_for(doc! {"a": 1}, Some(v(3, 9))),
            doc! {"a": 1}
        );
        for peer in [None, Some(v(3, 2))] {
            assert_eq!(
                with_version_for(doc! {"a": 1}, peer),
                with_version(doc! {"a": 1})
            );
        }
        // A message without it has the negotiated version, if 3.3 or later.
        assert_eq!(
            message_version(&doc! {}, "hub", Some(v(3, 4))).unwrap(),
            v(3, 4)
        );
        for negotiated in [None, Some(v(3, 2))] {
            let error = message_version(&doc! {}, "hub", negotiated).unwrap_err();
            assert_eq!(error.code(), INCOMPATIBLE_PROTOCOL);
        }
        // A message with it is checked as ever, whatever was negotiated.
        let old = doc! {"protocolVersion": "2.0"};
        let error = message_version(&old, "edge", Some(v(3, 3))).unwrap_err();
        assert_eq!(error.code(), INCOMPATIBLE_PROTOCOL);
        let newer = doc! {"protocolVersion": "3.5"};
        assert_eq!(
            message_version(&newer, "edge", Some(v(3, 3))).unwrap(),
            v(3, 5)
        );
    }

    #[test]
    fn keys_and_hashes() {
        let a = random_key().unwrap();
        let b = random_key().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
