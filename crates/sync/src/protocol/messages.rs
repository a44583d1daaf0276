//! The sync protocol's requests and replies as serde types. A request is a command document
//! `{<name>: 1, ...fields, protocolVersion}` ([`request`]); a reply is the fields plus
//! `protocolVersion` ([`reply`]). From 3.3 only the hello and its reply must carry the
//! version ([`request_to`], [`super::with_version_for`]). Reading either ([`parse`]) checks every field's type and
//! ignores fields it does not know (a later minor version may add optional ones).
//!
//! Field names are camelCase on the wire. Optional fields and empty lists are left out, which
//! keeps small messages small on thin links.

use bson::{Bson, Document};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    with_version, with_version_for, Change, ProtocolVersion, DOWNLOAD, HELLO, SNAPSHOT, UPLOAD,
};
use crate::error::{Error, Result};

/// A request: a message with a command name.
pub trait Request: Serialize {
    const NAME: &'static str;
}

/// The command document of `message`, with this side's protocol version.
pub fn request<T: Request>(message: &T) -> Document {
    let mut command = bson::doc! {T::NAME: 1};
    command.extend(body(message));
    with_version(command)
}

/// The command document of `message` for a peer that negotiated `peer` on this connection:
/// with this side's protocol version unless the peer takes it from the hello (3.3).
pub fn request_to<T: Request>(message: &T, peer: Option<ProtocolVersion>) -> Document {
    let mut command = bson::doc! {T::NAME: 1};
    command.extend(body(message));
    with_version_for(command, peer)
}

/// The reply document of `message`, with this side's protocol version.
pub fn reply<T: Serialize>(message: &T) -> Document {
    with_version(body(message))
}

/// The fields of `message` as a document.
pub fn body<T: Serialize>(message: &T) -> Document {
    // Every message is a struct of BSON-representable fields (sequence numbers stay below
    // 2^63), so this cannot fail.
    bson::to_document(message).expect("a sync message always serializes")
}

/// Reads a request or reply (`what` names it in the error).
pub fn parse<T: DeserializeOwned>(message: &Document, what: &str) -> Result<T> {
    parse_owned(message.clone(), what)
}

/// [`parse`] of a message the caller no longer needs: its documents are moved, not copied.
pub fn parse_owned<T: DeserializeOwned>(message: Document, what: &str) -> Result<T> {
    bson::from_document(message)
        .map_err(|error| Error::protocol(format!("invalid {what}: {error}")))
}

/// `outpostSyncHello`: the first request on each connection. It authenticates the edge with
/// its API key, or registers it with a one-time registration key; either way the connection
/// is bound to that edge from then on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_key: Option<String>,
    /// What the edge says about itself, shown by the Admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_version: Option<String>,
}

impl Request for Hello {
    const NAME: &'static str = HELLO;
}

/// The answer to a hello. A registration also carries the edge's identity: its new API key
/// (shown once), its service type, its instance query and default database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloReply {
    pub edge_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Document>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_db: Option<String>,
    /// The hub requires this edge to reset before it syncs again (see `hub::window`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<ResetNotice>,
}

/// Why the hub requires a reset (offline past the window, a breaking schema change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResetNotice {
    pub reason: String,
}

impl HelloReply {
    /// The answer to an authenticating hello: the edge the connection is bound to.
    pub fn bound(edge_id: String) -> HelloReply {
        HelloReply {
            edge_id,
            api_key: None,
            service: None,
            query: None,
            query_version: None,
            default_db: None,
            reset: None,
        }
    }
}

/// `outpostSyncUpload`: the edge's changes after its upload cursor `fromSeq`, up to and
/// including history entry `lastSeq` (entries it skipped count as uploaded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    #[serde(default)]
    pub from_seq: u64,
    pub last_seq: u64,
    pub changes: Vec<Change>,
    /// The time-series collections whose buckets (`system.buckets.<coll>`) the changes
    /// carry, with their catalog options: the hub creates them alike when it lacks them
    /// (since 3.1; an older hub ignores the field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeseries: Vec<TimeseriesCollection>,
}

impl Upload {
    /// [`request_to`] of the upload, its changes moved rather than copied through serde (an
    /// upload holds up to 4 MiB of documents). The same document: a test checks it.
    pub fn into_request(self, peer: Option<ProtocolVersion>) -> Document {
        let changes: Vec<Bson> = self
            .changes
            .into_iter()
            .map(|change| Bson::Document(change.into_document_to(peer)))
            .collect();
        let mut command = bson::doc! {
            Upload::NAME: 1,
            "fromSeq": super::u64_to_i64(self.from_seq),
            "lastSeq": super::u64_to_i64(self.last_seq),
            "changes": changes,
        };
        if !self.timeseries.is_empty() {
            let timeseries: Vec<Bson> = self.timeseries.iter().map(body_of).collect();
            command.insert("timeseries", timeseries);
        }
        with_version_for(command, peer)
    }
}

/// A time-series collection an upload's buckets belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeseriesCollection {
    /// `database.collection` (the collection users name, not its buckets).
    pub ns: String,
    /// Its catalog options: `timeseries` and, when set, `expireAfterSeconds`.
    pub options: Document,
}

impl Request for Upload {
    const NAME: &'static str = UPLOAD;
}

/// The hub's answer to an upload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadReply {
    /// The edge's history is uploaded up to here (the edge's cursor moves to it).
    pub ack_seq: u64,
    /// How many changes the hub applied and ignored (left out when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub applied: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ignored: i64,
    /// The hub's winners of documents whose uploaded changes lost: the edge takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Change>,
    /// Changes the hub's storage refused (a unique index, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
    /// Field deltas of documents the hub does not hold: nothing was applied, and the edge
    /// sends the same batch again with these documents whole (protocol 3.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub need_full: Vec<DocumentRef>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A change the hub refused, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub ns: String,
    pub id: Bson,
    pub reason: String,
}

/// One document: its namespace and `_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRef {
    pub ns: String,
    pub id: Bson,
}

/// `outpostSyncDownload`: the hub's changes for this edge after history entry `after`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Download {
    pub after: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// A long poll: when nothing is new, the hub waits this long for a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// The query version the edge syncs: when the hub's differs, it answers at once with the
    /// new query (no changes), and a long poll also ends when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_version: Option<u64>,
}

impl Request for Download {
    const NAME: &'static str = DOWNLOAD;
}

/// The hub's answer to a download: changes up to history entry `next`, of `lastSeq` in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadReply {
    pub changes: Vec<Change>,
    pub next: u64,
    pub last_seq: u64,
    /// The edge's instance query at the hub: when its version is not the edge's, the edge
    /// applies the new query first.
    pub query_version: i64,
    pub query: Document,
}

/// `outpostSyncSnapshot`: a page of every document the edge's query matches, from
/// `position` (absent for the first page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<SnapshotPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl Request for Snapshot {
    const NAME: &'static str = SNAPSHOT;
}

/// Where a snapshot goes on: after `_id` `after` of namespace `ns`; `hubSeq` is the hub's
/// last sequence when the snapshot began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPosition {
    pub ns: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Bson>,
    pub hub_seq: i64,
}

/// A page of a snapshot. After the last (`done`), the edge downloads from `hubSeq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotReply {
    pub docs: Vec<SnapshotItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<SnapshotPosition>,
    pub done: bool,
    pub hub_seq: i64,
}

impl SnapshotReply {
    /// [`body`] of the reply, its documents moved rather than copied through serde (a page
    /// holds up to 4 MiB of them). The same document: a test checks it.
    pub fn into_body(self) -> Document {
        let docs: Vec<Bson> = self
            .docs
            .into_iter()
            .map(|item| Bson::Document(bson::doc! {"ns": item.ns, "doc": item.doc}))
            .collect();
        let mut body = bson::doc! {"docs": docs};
        if let Some(position) = &self.position {
            body.insert("position", body_of(position));
        }
        body.insert("done", self.done);
        body.insert("hubSeq", self.hub_seq);
        body
    }
}

fn body_of<T: Serialize>(message: &T) -> Bson {
    Bson::Document(body(message))
}

/// One document of a snapshot page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotItem {
    pub ns: String,
    pub doc: Document,
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::protocol::Op;

    #[test]
    fn an_upload_moved_into_its_request_is_the_serde_request() {
        let change = |seq: u64, op: Op| Change {
            seq,
            ns: "shop.items".into(),
            id: Bson::Int32(1),
            hlc: 40 + seq,
            origin: String::new(),
            op,
        };
        let mut upload = Upload {
            from_seq: 3,
            last_seq: 9,
            changes: vec![
                change(4, Op::Insert(doc! {"_id": 1, "a": [1, {"b": 2}]})),
                change(5, Op::Delete),
            ],
            timeseries: Vec::new(),
        };
        let older = ProtocolVersion { major: 3, minor: 2 };
        assert_eq!(upload.clone().into_request(None), request(&upload));
        assert_eq!(upload.clone().into_request(Some(older)), request(&upload));
        upload.timeseries.push(TimeseriesCollection {
            ns: "plant.readings".into(),
            options: doc! {"timeseries": {"timeField": "t"}},
        });
        assert_eq!(upload.clone().into_request(None), request(&upload));
        let current = Some(super::super::PROTOCOL_VERSION);
        assert_eq!(
            upload.clone().into_request(current),
            request_to(&upload, current)
        );
        assert!(!request_to(&upload, current).contains_key("protocolVersion"));
    }

    #[test]
    fn a_snapshot_reply_moved_into_its_body_is_the_serde_body() {
        let reply = SnapshotReply {
            docs: vec![
                SnapshotItem {
                    ns: "shop.items".into(),
                    doc: doc! {"_id": 1, "a": {"b": [1, 2]}},
                },
                SnapshotItem {
                    ns: "shop.orders".into(),
                    doc: doc! {"_id": "x"},
                },
            ],
            position: Some(SnapshotPosition {
                ns: "shop.orders".into(),
                after: Some(Bson::String("x".into())),
                hub_seq: 9,
            }),
            done: false,
            hub_seq: 9,
        };
        let serde_body = body(&reply);
        let moved = reply.clone().into_body();
        assert_eq!(moved, serde_body);
        let back: SnapshotReply = parse_owned(moved, "snapshot reply").unwrap();
        assert_eq!(back, reply);
        let last = SnapshotReply {
            docs: Vec::new(),
            position: None,
            done: true,
            hub_seq: 3,
        };
        assert_eq!(last.clone().into_body(), body(&last));
    }

    #[test]
    fn requests_carry_their_name_first_and_the_version() {
        let command = request(&Download {
            after: 3,
            limit: Some(10),
            wait_ms: None,
            query_version: None,
        });
        assert_eq!(command.keys().next().map(String::as_str), Some(DOWNLOAD));
        assert_eq!(
            command,
            doc! {DOWNLOAD: 1, "after": 3_i64, "limit": 10_i64, "protocolVersion": "3.3"}
        );
        let parsed: Download = parse(&command, "download").unwrap();
        assert_eq!(parsed.after, 3);
        assert_eq!(parsed.wait_ms, None);
    }

    #[test]
    fn replies_round_trip_and_leave_out_empty_lists() {
        let answer = UploadReply {
            ack_seq: 9,
            applied: 1,
            ignored: 0,
            superseded: vec![Change {
                seq: 0,
                ns: "shop.items".into(),
                id: Bson::Int32(1),
                hlc: 5,
                origin: "hub".into(),
                op: Op::Delete,
            }],
            refused: Vec::new(),
            need_full: Vec::new(),
        };
        let document = reply(&answer);
        assert!(!document.contains_key("refused") && !document.contains_key("needFull"));
        assert_eq!(
            parse::<UploadReply>(&document, "upload reply").unwrap(),
            answer
        );
    }

    #[test]
    fn wrong_types_are_refused_with_the_message_named() {
        let error = parse::<Upload>(&doc! {"lastSeq": "x", "changes": []}, "upload").unwrap_err();
        assert_eq!(error.code(), 9);
        assert!(error.to_string().contains("invalid upload"), "{error}");
        let error = parse::<Upload>(&doc! {"lastSeq": 1, "changes": [5]}, "upload").unwrap_err();
        assert_eq!(error.code(), 9);
        let error = parse::<Download>(&doc! {"after": -1}, "download").unwrap_err();
        assert_eq!(error.code(), 9);
    }
}
