//! One change to one document as it travels between edge and hub: what it did ([`Op`]) and
//! where it stands in the last-writer-wins order (its clock and the instance that wrote it,
//! [`Change::stamp`]).
//!
//! On the wire a change is one flat document (see [`WireChange`]; the layout of protocol 3.1):
//! `{seq, ns, id, hlc, origin?, doc | delete: true | drop: true, insert?, fields?, inc?,
//! partial?}`. Since 3.3 a field delta (`partial: true`) without `fields` changed exactly the
//! fields of its `doc`. Reading it checks that the flags form one operation, so the rest of the crate
//! matches on [`Op`] and never meets a delete with fields or a delta without them.

use bson::{Bson, Document};
use serde::{Deserialize, Serialize};

use super::{split_namespace, ProtocolVersion, FIELDS_IMPLIED_SINCE};
use crate::error::{Error, Result};
use crate::merge::Stamp;

/// What a change did to its document.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Created the document (whole). An insert after a delete re-creates the document, while
    /// an update of a deleted document loses.
    Insert(Document),
    /// Changed some fields of the document.
    Update(Update),
    /// The whole document as it is now: a replacement, or a version sent whole (the hub's
    /// downloads, snapshots, superseded changes).
    Replace(Document),
    /// Deleted the document.
    Delete,
    /// Dropped the whole collection `ns` (`id` is unused). From the hub: the edge removes its
    /// copies of the documents its query syncs there. From an edge: the hub deletes the
    /// documents of `ns` that the edge's query syncs and that were written before the drop.
    Drop,
}

impl Op {
    /// The operation's name, for messages: `insert`, `update`, `replace`, `delete`, `drop`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Insert(_) => "insert",
            Op::Update(_) => "update",
            Op::Replace(_) => "replace",
            Op::Delete => "delete",
            Op::Drop => "drop",
        }
    }
}

/// An update: the hub merges only the fields it changed (per-field last-writer-wins) and adds
/// its increments to its own values.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The whole document after the update or, when `delta`, only its `_id` and the top-level
    /// fields the update touched (see [`crate::delta`]; only from an edge to a hub of protocol
    /// 3.1 or later).
    pub doc: Document,
    pub delta: bool,
    /// The fields it changed (or removed), as field paths through embedded documents
    /// (`outpost_storage::join_field_path`).
    pub fields: Vec<String>,
    /// The fields it incremented (`$inc`, field paths) and by how much: concurrent increments
    /// add up like a counter.
    pub increments: Option<Document>,
}

/// One change to one document. `seq` is the sequence number in the sender's history log (0
/// for a document sent outside it); `hlc` is the hybrid logical clock of the original write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WireChange", into = "WireChange")]
pub struct Change {
    pub seq: u64,
    /// `database.collection`.
    pub ns: String,
    /// The document's `_id` (`Null` for a drop).
    pub id: Bson,
    pub hlc: u64,
    /// The instance that wrote this version (an edge id or `hub`), for ties of `hlc`; empty in
    /// uploads (the hub knows who is uploading).
    pub origin: String,
    pub op: Op,
}

impl Change {
    /// A version of a document sent whole (`Some`) or its delete (`None`).
    pub fn whole(
        seq: u64,
        ns: String,
        id: Bson,
        doc: Option<Document>,
        hlc: u64,
        origin: String,
    ) -> Change {
        let op = match doc {
            Some(doc) => Op::Replace(doc),
            None => Op::Delete,
        };
        Change {
            seq,
            ns,
            id,
            hlc,
            origin,
            op,
        }
    }

    /// The drop of collection `ns`.
    pub fn drop(seq: u64, ns: String, hlc: u64, origin: String) -> Change {
        Change {
            seq,
            ns,
            id: Bson::Null,
            hlc,
            origin,
            op: Op::Drop,
        }
    }

    /// The document this change carries: whole, or a field delta for an update with `delta`.
    pub fn doc(&self) -> Option<&Document> {
        match &self.op {
            Op::Insert(doc) | Op::Replace(doc) => Some(doc),
            Op::Update(update) => Some(&update.doc),
            Op::Delete | Op::Drop => None,
        }
    }

    pub fn is_delete(&self) -> bool {
        self.op == Op::Delete
    }

    /// This change's place in the last-writer-wins order; `writer` names the instance when
    /// the change does not (an upload's changes are the uploading edge's).
    pub fn stamp(&self, writer: &str) -> Stamp {
        let instance = if self.origin.is_empty() {
            writer
        } else {
            &self.origin
        };
        Stamp::new(self.hlc, self.is_delete(), instance)
    }

    pub fn to_document(&self) -> Document {
        bson::to_document(self).expect("a change always serializes")
    }

    /// [`Change::to_document`] of a change the caller no longer needs: its document is
    /// moved, not copied (the same document: a test checks it).
    pub fn into_document(self) -> Document {
        self.into_document_to(None)
    }

    /// [`Change::into_document`] for a peer that negotiated `peer`: to one of
    /// [`FIELDS_IMPLIED_SINCE`] or later, a field delta whose `fields` are exactly its
    /// document's keys leaves them out (the peer reads them from the document).
    pub fn into_document_to(self, peer: Option<ProtocolVersion>) -> Document {
        let mut wire = WireChange::from(self);
        if peer.is_some_and(|peer| peer >= FIELDS_IMPLIED_SINCE) && wire.fields_are_implied() {
            wire.fields = None;
        }
        let mut d = bson::doc! {
            "seq": super::u64_to_i64(wire.seq),
            "ns": wire.ns,
            "id": wire.id,
            "hlc": super::u64_to_i64(wire.hlc),
        };
        if !wire.origin.is_empty() {
            d.insert("origin", wire.origin);
        }
        if wire.drop {
            d.insert("drop", true);
        }
        if let Some(fields) = wire.fields {
            d.insert("fields", fields);
        }
        if let Some(increments) = wire.increments {
            d.insert("inc", increments);
        }
        if wire.insert {
            d.insert("insert", true);
        }
        if wire.partial {
            d.insert("partial", true);
        }
        if let Some(doc) = wire.doc {
            d.insert("doc", doc);
        }
        if wire.delete {
            d.insert("delete", true);
        }
        d
    }

    pub fn from_document(change: &Document) -> Result<Change> {
        bson::from_document(change.clone()).map_err(|error| Error::protocol(error.to_string()))
    }

    /// Approximate size on the wire, for batch limits.
    pub fn approximate_bytes(&self) -> usize {
        let doc_bytes = self
            .doc()
            .map_or(0, outpost_storage::value::size::document_size);
        doc_bytes + self.ns.len() + 64
    }
}

/// A change as it travels: protocol 3.1's flat layout. Fields it does not know are ignored (a
/// later minor version may add optional ones).
#[derive(Serialize, Deserialize)]
struct WireChange {
    seq: u64,
    ns: String,
    id: Bson,
    hlc: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    origin: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    drop: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<String>>,
    #[serde(default, rename = "inc", skip_serializing_if = "Option::is_none")]
    increments: Option<Document>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    insert: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    partial: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    doc: Option<Document>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    delete: bool,
}

impl WireChange {
    /// Whether this is a field delta whose `fields` name exactly its document's keys, in
    /// order, with no increments: what [`Change::try_from`] reads when `fields` is absent.
    fn fields_are_implied(&self) -> bool {
        match (&self.fields, &self.doc) {
            (Some(fields), Some(doc)) if self.partial && self.increments.is_none() => {
                !doc.is_empty()
                    && fields.len() == doc.len()
                    && fields.iter().zip(doc.keys()).all(|(f, k)| f == k)
            }
            _ => false,
        }
    }
}

impl From<Change> for WireChange {
    fn from(change: Change) -> WireChange {
        let mut wire = WireChange {
            seq: change.seq,
            ns: change.ns,
            id: change.id,
            hlc: change.hlc,
            origin: change.origin,
            drop: false,
            fields: None,
            increments: None,
            insert: false,
            partial: false,
            doc: None,
            delete: false,
        };
        match change.op {
            Op::Insert(doc) => {
                wire.insert = true;
                wire.doc = Some(doc);
            }
            Op::Update(update) => {
                wire.doc = Some(update.doc);
                wire.partial = update.delta;
                wire.fields = Some(update.fields);
                wire.increments = update.increments;
            }
            Op::Replace(doc) => wire.doc = Some(doc),
            Op::Delete => wire.delete = true,
            Op::Drop => {
                wire.drop = true;
                wire.delete = true;
            }
        }
        wire
    }
}

impl TryFrom<WireChange> for Change {
    type Error = String;

    fn try_from(mut wire: WireChange) -> std::result::Result<Change, String> {
        split_namespace(&wire.ns).map_err(|error| error.to_string())?;
        // (3.3) A field delta without `fields` changed exactly its document's fields.
        if wire.partial && wire.fields.is_none() && wire.increments.is_none() && !wire.insert {
            if let Some(doc) = wire.doc.as_ref().filter(|doc| !doc.is_empty()) {
                wire.fields = Some(doc.keys().cloned().collect());
            }
        }
        let is_update = wire.fields.is_some();
        if (wire.partial || wire.increments.is_some()) && !is_update {
            return Err("a change with 'partial' or 'inc' needs 'fields'".into());
        }
        let op = match (wire.doc, wire.drop, wire.delete) {
            (None, true, _) if !is_update && !wire.insert => Op::Drop,
            (None, false, true) if !is_update && !wire.insert => Op::Delete,
            (Some(doc), false, false) => match wire.fields {
                Some(fields) if !wire.insert => Op::Update(Update {
                    doc,
                    delta: wire.partial,
                    fields,
                    increments: wire.increments,
                }),
                Some(_) => return Err("an insert cannot name 'fields'".into()),
                None if wire.insert => Op::Insert(doc),
                None => Op::Replace(doc),
            },
            _ => {
                return Err(
                    "a change is a 'doc', a 'delete: true' or a 'drop: true', and only one".into(),
                )
            }
        };
        Ok(Change {
            seq: wire.seq,
            ns: wire.ns,
            id: wire.id,
            hlc: wire.hlc,
            origin: wire.origin,
            op,
        })
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn change(op: Op) -> Change {
        Change {
            seq: 7,
            ns: "shop.a.b".into(),
            id: Bson::Int32(1),
            hlc: 99,
            origin: String::new(),
            op,
        }
    }

    #[test]
    fn every_operation_round_trips() {
        let update = |delta, increments| {
            Op::Update(Update {
                doc: doc! {"_id": 1, "a": 2},
                delta,
                fields: vec!["a".into(), "b.c".into()],
                increments,
            })
        };
        let cases = [
            Op::Insert(doc! {"_id": 1}),
            update(false, None),
            update(true, Some(doc! {"n": 1})),
            Op::Replace(doc! {"_id": 1, "a": 2}),
            Op::Delete,
            Op::Drop,
        ];
        for op in cases {
            let mut change = change(op);
            assert_eq!(
                Change::from_document(&change.to_document()).unwrap(),
                change
            );
            assert_eq!(change.clone().into_document(), change.to_document());
            change.origin = "hub".into();
            assert_eq!(
                Change::from_document(&change.to_document()).unwrap(),
                change
            );
            assert_eq!(change.clone().into_document(), change.to_document());
        }
    }

    #[test]
    fn the_wire_layout_is_protocol_3_1s() {
        let delete = change(Op::Delete).to_document();
        assert_eq!(
            delete,
            doc! {"seq": 7_i64, "ns": "shop.a.b", "id": 1, "hlc": 99_i64, "delete": true}
        );
        let insert = change(Op::Insert(doc! {"_id": 1})).to_document();
        assert_eq!(
            insert,
            doc! {"seq": 7_i64, "ns": "shop.a.b", "id": 1, "hlc": 99_i64, "insert": true, "doc": {"_id": 1}}
        );
    }

    #[test]
    fn a_delta_of_its_documents_fields_leaves_them_out_from_3_3() {
        let delta = |fields: &[&str], increments| {
            change(Op::Update(Update {
                doc: doc! {"status": "shipped", "n": 2},
                delta: true,
                fields: fields.iter().map(|f| f.to_string()).collect(),
                increments,
            }))
        };
        let current = Some(crate::protocol::PROTOCOL_VERSION);
        let older = Some(ProtocolVersion { major: 3, minor: 2 });
        let implied = delta(&["status", "n"], None);
        let compact = implied.clone().into_document_to(current);
        assert_eq!(
            compact,
            doc! {"seq": 7_i64, "ns": "shop.a.b", "id": 1, "hlc": 99_i64, "partial": true, "doc": {"status": "shipped", "n": 2}}
        );
        assert_eq!(Change::from_document(&compact).unwrap(), implied);
        // To an older hub, and whenever the fields are not exactly the document's keys in
        // order (a nested path, a removed field, another order, increments), they are sent.
        assert_eq!(
            implied.clone().into_document_to(older),
            implied.to_document()
        );
        let nested = outpost_storage::join_field_path(&["status".to_string(), "x".to_string()]);
        for other in [
            delta(&[&nested, "n"], None),
            delta(&["status", "n", "gone"], None),
            delta(&["n", "status"], None),
            delta(&["status", "n"], Some(doc! {"n": 1})),
        ] {
            let document = other.clone().into_document_to(current);
            assert!(document.contains_key("fields"), "{document}");
            assert_eq!(Change::from_document(&document).unwrap(), other);
        }
        // A whole update is never partial: its fields always travel.
        let whole = change(Op::Update(Update {
            doc: doc! {"_id": 1, "status": "shipped"},
            delta: false,
            fields: vec!["_id".into(), "status".into()],
            increments: None,
        }));
        assert!(whole.into_document_to(current).contains_key("fields"));
    }

    #[test]
    fn malformed_changes_are_refused() {
        let cases = [
            doc! {"ns": "shop.items", "id": 1, "hlc": 1_i64, "delete": true},
            doc! {"seq": -1_i64, "ns": "shop.items", "id": 1, "hlc": 1_i64, "delete": true},
            doc! {"seq": 1_i64, "ns": "shop", "id": 1, "hlc": 1_i64, "delete": true},
            doc! {"seq": 1_i64, "ns": "shop.items", "hlc": 1_i64, "delete": true},
            doc! {"seq": 1_i64, "ns": "shop.items", "id": 1, "hlc": "x", "delete": true},
            doc! {"seq": 1_i64, "ns": "shop.items", "id": 1, "hlc": 1, "doc": 5},
            // Neither a document nor a delete, or both.
            doc! {"seq": 1_i64, "ns": "shop.items", "id": 1, "hlc": 1},
            doc! {"seq": 1_i64, "ns": "shop.items", "id": 1, "hlc": 1, "doc": {}, "delete": true},
            // Flags that make no operation.
            doc! {"seq": 1_i64, "ns": "shop.items", "id": 1, "hlc": 1, "delete": true, "fields": ["a"]},
            doc! {"seq": 1_i64, "ns": "shop.items", "id": 1, "hlc": 1, "doc": {}, "partial": true},
            doc! {"seq": 1_i64, "ns": "shop.items", "id": 1, "hlc": 1, "doc": {}, "insert": true, "fields": []},
        ];
        for case in cases {
            let error = Change::from_document(&case).unwrap_err();
            assert_eq!(error.code(), 9, "{case}: {error}");
        }
    }
}
