//! The history log: one entry per change, keyed by a big-endian u64 sequence number, written in
//! the same atomic batch as the change itself. Sync upload (and later change streams) read it
//! from their own persisted cursors.

use std::time::{SystemTime, UNIX_EPOCH};

use bson::{doc, Bson, Document};

use crate::error::{Error, Result};

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryOp {
    Insert,
    Update,
    Replace,
    Delete,
    /// The whole collection was dropped.
    Drop,
}

impl HistoryOp {
    fn as_str(self) -> &'static str {
        match self {
            HistoryOp::Insert => "insert",
            HistoryOp::Update => "update",
            HistoryOp::Replace => "replace",
            HistoryOp::Delete => "delete",
            HistoryOp::Drop => "drop",
        }
    }

    fn parse(s: &str) -> Result<HistoryOp> {
        Ok(match s {
            "insert" => HistoryOp::Insert,
            "update" => HistoryOp::Update,
            "replace" => HistoryOp::Replace,
            "delete" => HistoryOp::Delete,
            "drop" => HistoryOp::Drop,
            other => return Err(Error::Corrupt(format!("unknown history operation {other}"))),
        })
    }
}

/// Who made a change: a local client, or a sync peer (identified by its instance id). Changes
/// applied from a peer are never uploaded back to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    #[default]
    Local,
    Peer(String),
}

/// What a `Drop` or `Insert` entry was part of, when it was more than a plain drop or insert
/// (change streams report these as `rename` and `dropDatabase`; sync sees the drop and
/// inserts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ddl {
    /// The dropped namespace was renamed to this one (`db.collection`).
    #[serde(rename = "renameTo")]
    RenameTo(String),
    /// The inserted document moved here by a rename from this namespace.
    #[serde(rename = "renamedFrom")]
    RenamedFrom(String),
    /// The last collection drop of a `dropDatabase`.
    #[serde(rename = "dropDatabase")]
    DropDatabase,
}

/// One entry of the history log.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub seq: u64,
    /// `db.collection`.
    pub ns: String,
    pub op: HistoryOp,
    /// The `_id` of the changed document (`Null` for a collection drop).
    pub id: Bson,
    /// The document after the change (inserts, updates, replaces).
    pub doc: Option<Document>,
    /// For updates: the fields whose values changed or were removed, as field paths (see
    /// [`join_field_path`]): the deepest field that changed, descending through embedded
    /// documents (not arrays).
    pub changed_fields: Option<Vec<String>>,
    /// For updates: the fields incremented by `$inc` (field paths), with their deltas (sync
    /// merges concurrent increments as counters).
    pub increments: Option<Document>,
    /// Hybrid logical clock timestamp of the change (see [`Hlc`]).
    pub hlc: u64,
    pub origin: Origin,
    /// The document before the change (updates, replaces, deletes), kept only for collections
    /// with `changeStreamPreAndPostImages: {enabled: true}`.
    pub before: Option<Document>,
    /// What larger operation this entry is part of, if any.
    pub ddl: Option<Ddl>,
}

impl HistoryEntry {
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut d = doc! {
            "ns": &self.ns,
            "op": self.op.as_str(),
            "id": self.id.clone(),
            "hlc": i64::try_from(self.hlc).map_err(|_| Error::Corrupt("hlc out of range".into()))?,
        };
        if let Some(doc) = &self.doc {
            d.insert("doc", doc.clone());
        }
        if let Some(fields) = &self.changed_fields {
            d.insert("changed", fields.clone());
        }
        if let Some(increments) = &self.increments {
            d.insert("inc", increments.clone());
        }
        if let Origin::Peer(peer) = &self.origin {
            d.insert("origin", peer.clone());
        }
        if let Some(before) = &self.before {
            d.insert("before", before.clone());
        }
        if let Some(ddl) = &self.ddl {
            d.insert(
                "ddl",
                bson::to_bson(ddl).map_err(|e| Error::Corrupt(format!("history ddl: {e}")))?,
            );
        }
        Ok(bson::to_vec(&d)?)
    }

    /// Only the clock of a stored entry, read without decoding the rest (its document).
    pub(crate) fn hlc_of(seq: u64, bytes: &[u8]) -> Result<u64> {
        let corrupt = || Error::Corrupt(format!("history entry {seq}: hlc"));
        let raw = bson::RawDocument::from_bytes(bytes).map_err(|_| corrupt())?;
        let hlc = raw.get_i64("hlc").map_err(|_| corrupt())?;
        u64::try_from(hlc).map_err(|_| corrupt())
    }

    pub(crate) fn from_bytes(seq: u64, bytes: &[u8]) -> Result<HistoryEntry> {
        let d = super::decode_document(bytes)
            .map_err(|e| Error::Corrupt(format!("history entry {seq}: {e}")))?;
        HistoryEntry::from_document(seq, d)
    }

    /// A stored entry without its documents (`doc` and `before` are `None`): what a reader
    /// that needs only which document changed, how and when pays to decode.
    pub(crate) fn head_from_bytes(seq: u64, bytes: &[u8]) -> Result<HistoryEntry> {
        let corrupt = |e: bson::raw::Error| Error::Corrupt(format!("history entry {seq}: {e}"));
        let raw = bson::RawDocument::from_bytes(bytes).map_err(corrupt)?;
        let mut d = Document::new();
        for element in raw {
            let (key, value) = element.map_err(corrupt)?;
            if key == "doc" || key == "before" {
                continue;
            }
            let value = Bson::try_from(value.to_raw_bson()).map_err(corrupt)?;
            d.insert(key, value);
        }
        HistoryEntry::from_document(seq, d)
    }

    /// Whether a stored entry was written locally (not by a sync peer), read without decoding
    /// the rest.
    pub(crate) fn is_local_bytes(seq: u64, bytes: &[u8]) -> Result<bool> {
        let raw = bson::RawDocument::from_bytes(bytes)
            .map_err(|e| Error::Corrupt(format!("history entry {seq}: {e}")))?;
        Ok(raw.get("origin").ok().flatten().is_none())
    }

    fn from_document(seq: u64, mut d: Document) -> Result<HistoryEntry> {
        let corrupt = |what: &str| Error::Corrupt(format!("history entry {seq}: {what}"));
        // The documents are taken out of the decoded entry, not copied.
        let mut take_document = |key: &str| match d.remove(key) {
            Some(Bson::Document(doc)) => Some(doc),
            _ => None,
        };
        let doc = take_document("doc");
        let increments = take_document("inc");
        let before = take_document("before");
        let changed_fields = match d.get_array("changed") {
            Ok(a) => Some(
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ),
            Err(_) => None,
        };
        Ok(HistoryEntry {
            seq,
            ns: d.get_str("ns").map_err(|_| corrupt("ns"))?.to_owned(),
            op: HistoryOp::parse(d.get_str("op").map_err(|_| corrupt("op"))?)?,
            id: d.remove("id").unwrap_or(Bson::Null),
            doc,
            changed_fields,
            increments,
            hlc: u64::try_from(d.get_i64("hlc").map_err(|_| corrupt("hlc"))?)
                .map_err(|_| corrupt("hlc"))?,
            origin: match d.get_str("origin") {
                Ok(peer) => Origin::Peer(peer.to_owned()),
                Err(_) => Origin::Local,
            },
            before,
            ddl: match d.remove("ddl") {
                Some(ddl) => Some(bson::from_bson(ddl).map_err(|_| corrupt("ddl"))?),
                None => None,
            },
        })
    }
}

/// A hybrid logical clock: milliseconds since the epoch in the high 48 bits, a counter in the
/// low 16. Monotonic even when the wall clock steps back, and it can absorb a remote clock
/// reading so causally later changes always get later timestamps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hlc {
    last: u64,
}

impl Hlc {
    pub fn new(last: u64) -> Hlc {
        Hlc { last }
    }

    fn wall() -> u64 {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        u64::try_from(ms).unwrap_or(u64::MAX >> 16) << 16
    }

    /// The next timestamp, later than every one issued or observed before.
    pub fn tick(&mut self) -> u64 {
        let wall = Hlc::wall();
        self.last = if wall > self.last {
            wall
        } else {
            self.last.saturating_add(1)
        };
        self.last
    }

    /// Takes a remote timestamp into account.
    pub fn observe(&mut self, remote: u64) {
        if remote > self.last {
            self.last = remote;
        }
    }

    pub fn last(&self) -> u64 {
        self.last
    }
}

/// A field in embedded documents as history entries and sync name it: its segments joined by
/// `.`, where a `.` or `\` inside a segment is escaped by `\` (MongoDB allows dots in field
/// names, so a bare dotted string would be ambiguous).
pub fn join_field_path<S: AsRef<str>>(segments: &[S]) -> String {
    let mut out = String::new();
    for (n, segment) in segments.iter().enumerate() {
        if n > 0 {
            out.push('.');
        }
        for c in segment.as_ref().chars() {
            if c == '.' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// The segments of a path made by [`join_field_path`].
pub fn split_field_path(path: &str) -> Vec<String> {
    let mut segments = vec![String::new()];
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(last)) = (chars.next(), segments.last_mut()) {
                    last.push(next);
                }
            }
            '.' => segments.push(String::new()),
            c => {
                if let Some(last) = segments.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_round_trip_dots_and_backslashes() {
        for segments in [
            vec!["a"],
            vec!["a", "b", "c"],
            vec!["a.b", "c"],
            vec!["x\\", ".", ""],
            vec!["", "é.ü"],
        ] {
            let path = join_field_path(&segments);
            assert_eq!(split_field_path(&path), segments, "{path}");
        }
        assert_eq!(join_field_path(&["a", "b"]), "a.b");
        assert_eq!(join_field_path(&["a.b"]), "a\\.b");
    }

    #[test]
    fn entry_round_trip() {
        let entry = HistoryEntry {
            seq: 7,
            ns: "db.c".into(),
            op: HistoryOp::Update,
            id: Bson::Int32(1),
            doc: Some(doc! {"_id": 1, "a": 2}),
            changed_fields: Some(vec!["a".into()]),
            increments: Some(doc! {"a": 1}),
            hlc: 42,
            origin: Origin::Peer("edge-1".into()),
            before: Some(doc! {"_id": 1, "a": 1}),
            ddl: Some(Ddl::RenamedFrom("db.old".into())),
        };
        let bytes = entry.to_bytes().expect("encode");
        assert_eq!(HistoryEntry::from_bytes(7, &bytes).expect("decode"), entry);
        let entry = HistoryEntry {
            before: None,
            ddl: Some(Ddl::DropDatabase),
            ..entry
        };
        let bytes = entry.to_bytes().expect("encode");
        assert_eq!(HistoryEntry::from_bytes(7, &bytes).expect("decode"), entry);
    }

    #[test]
    fn hlc_is_monotonic() {
        let mut hlc = Hlc::new(u64::MAX - 10);
        let a = hlc.tick();
        let b = hlc.tick();
        assert!(b > a);
    }
}
