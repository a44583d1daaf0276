//! The conflict rules, as pure functions shared by the hub and the edge: both sides must
//! decide every conflict the same way, or replicas diverge.
//!
//! - Last writer wins, by [`Stamp`]: the later hybrid logical clock, then a delete over an
//!   upsert, then the greater instance id.
//! - Deletes win over concurrent updates: an update of a document another instance deleted was
//!   made without seeing the delete, so it loses whatever its clock. A re-insert (an insert
//!   after a delete) is a new document: the clock decides.
//! - Per field, down to fields of embedded documents (the hub's merge); `$inc` deltas add up.
//!   A `$set` and a concurrent `$inc` of the same field do not commute: the order in which
//!   they reach the hub decides, and every replica converges on the hub's result.

use bson::{Bson, Document};
use outpost_storage::query::update::add_numbers;
use outpost_storage::{join_field_path, split_field_path};
use serde::{Deserialize, Serialize};

use crate::hub::Version;

/// A write's place in the last-writer-wins order. The derived `Ord` *is* that order: clock,
/// then a delete over an upsert on a tie, then the greater instance id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub hlc: u64,
    pub deleted: bool,
    /// An edge id, or `hub`.
    pub instance: String,
}

impl Stamp {
    pub fn new(hlc: u64, deleted: bool, instance: impl Into<String>) -> Stamp {
        Stamp {
            hlc,
            deleted,
            instance: instance.into(),
        }
    }
}

/// What the local changes of a document not yet uploaded add up to, as the hub will see them
/// once they arrive (it applies them in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalOp {
    /// Created (and maybe updated since): the document is new.
    Insert,
    /// Updated or replaced.
    Update,
    /// Deleted (or moved out of the edge's query, which uploads as a delete).
    Delete,
    /// Deleted, then created again: the delete removes whatever the hub holds by then, and
    /// the new document takes its place.
    Recreate,
}

impl LocalOp {
    /// The effect of `self` followed by `next`.
    pub fn then(self, next: LocalOp) -> LocalOp {
        match (self, next) {
            (LocalOp::Delete | LocalOp::Recreate, LocalOp::Insert | LocalOp::Update) => {
                LocalOp::Recreate
            }
            (LocalOp::Insert, LocalOp::Update) => LocalOp::Insert,
            (_, next) => next,
        }
    }
}

/// Whether a change from the hub replaces a document that has local changes not yet uploaded
/// (`local`: their effect, stamped with the latest one's clock and this edge's id), deciding
/// as the hub will once the local changes arrive there:
/// - a local delete (also before a re-creation) wins over any incoming version: the hub
///   applies a delete over a stored document whatever its versions;
/// - a local update loses to an incoming delete (deletes win over concurrent updates);
/// - otherwise the later stamp wins (a re-created document is new).
pub fn incoming_wins_at_edge(local: &Stamp, local_op: LocalOp, incoming: &Stamp) -> bool {
    match (local_op, incoming.deleted) {
        (LocalOp::Delete | LocalOp::Recreate, false) => false,
        (LocalOp::Update, true) => true,
        _ => incoming > local,
    }
}

/// The outcome of merging an update into the hub's stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateMerge {
    /// The stored document with the winning fields of the update.
    pub merged: Document,
    /// The document's versions after the merge (its `origin` is left to the caller).
    pub version: Version,
    /// Whether any field of the update won.
    pub won: bool,
    /// Whether any field of the update lost (to a later write of the field at the hub).
    pub lost_some: bool,
}

/// Merges an update of the document `stored` by `instance` at `hlc` into it, per field (down
/// to fields of embedded documents): each changed field (`fields`, or every field of `doc` and
/// `stored` when `None`: a whole-document update) wins when the update is later than the
/// field's version; a field incremented by `$inc` (`increments`) adds its delta to the hub's
/// value whatever the clocks say, as a counter. A path that crosses a value that is not a
/// document at the hub (another write changed its shape) is decided for its whole top-level
/// field. `_id` never changes.
pub fn merge_update(
    stored: &Document,
    version: Version,
    doc: &Document,
    fields: Option<&[String]>,
    increments: Option<&Document>,
    hlc: u64,
    instance: &str,
) -> UpdateMerge {
    let mut version = version;
    let all_fields: Vec<String>;
    let fields = match fields {
        Some(fields) => fields,
        None => {
            all_fields = doc
                .keys()
                .chain(stored.keys().filter(|k| !doc.contains_key(*k)))
                .cloned()
                .collect();
            &all_fields
        }
    };
    let mut merged = stored.clone();
    let (mut won, mut lost_some) = (false, false);
    let incoming = Stamp::new(hlc, false, instance);
    for field in fields {
        let segments = split_field_path(field);
        if segments.first().is_some_and(|s| s == "_id") {
            continue;
        }
        let delta = increments.and_then(|inc| inc.get(field));
        let base = field_at(stored, &segments)
            .cloned()
            .unwrap_or(Bson::Int32(0));
        if let Some(sum) = delta.and_then(|d| add_numbers(&base, d)) {
            if set_field_at(&mut merged, &segments, Some(sum)) {
                if incoming > version.field_stamp(field) {
                    version.set_field(field, hlc, instance);
                }
                won = true;
                continue;
            }
        }
        if incoming <= version.field_stamp(field) {
            lost_some = true;
            continue;
        }
        let value = field_at(doc, &segments).cloned();
        if set_field_at(&mut merged, &segments, value) {
            version.set_field(field, hlc, instance);
            won = true;
            continue;
        }
        let top = &segments[..1];
        let top_field = join_field_path(top);
        if incoming > version.field_stamp(&top_field) {
            set_field_at(&mut merged, top, doc.get(&top[0]).cloned());
            version.set_field(&top_field, hlc, instance);
            won = true;
        } else {
            lost_some = true;
        }
    }
    UpdateMerge {
        merged,
        version,
        won,
        lost_some,
    }
}

/// Whether a whole-document change (an insert, a replacement, a delete, or an update of a
/// document the hub does not hold) by `instance` at `hlc` loses to the document's `current`
/// versions. Deletes win over concurrent updates: an update or replacement of a document
/// another instance deleted was made without seeing the delete, so it loses whatever its
/// clock; a delete wins over a stored document's versions whatever their clocks. Otherwise (a
/// new document, one inserted again after a delete, or written again by the instance that
/// deleted it, which is causally later) the later stamp wins.
pub fn whole_write_loses(
    deleting: bool,
    insert: bool,
    hlc: u64,
    instance: &str,
    current: Option<&Version>,
) -> bool {
    let Some(current) = current else {
        return false;
    };
    let incoming = Stamp::new(hlc, deleting, instance);
    if deleting {
        current.deleted && incoming <= current.stamp()
    } else if current.deleted && !insert && current.origin != instance {
        true
    } else {
        incoming <= current.stamp()
    }
}

/// The value at a field path, through embedded documents only.
pub fn field_at<'a>(doc: &'a Document, segments: &[String]) -> Option<&'a Bson> {
    let (last, parents) = segments.split_last()?;
    let mut current = doc;
    for segment in parents {
        current = current.get_document(segment).ok()?;
    }
    current.get(last)
}

/// Sets (`Some`) or removes (`None`) the value at a field path, creating the embedded documents
/// on the way. `false` when the path crosses a value that is not a document.
pub fn set_field_at(doc: &mut Document, segments: &[String], value: Option<Bson>) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = doc;
    for segment in parents {
        if !current.contains_key(segment) {
            if value.is_none() {
                return true;
            }
            current.insert(segment.clone(), Document::new());
        }
        match current.get_mut(segment) {
            Some(Bson::Document(inner)) => current = inner,
            // Nothing to remove under a value that is not a document.
            _ => return value.is_none(),
        }
    }
    match value {
        Some(value) => {
            current.insert(last.clone(), value);
        }
        None => {
            current.remove(last);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_order_by_clock_then_delete_then_instance() {
        let mut stamps = vec![
            Stamp::new(2, false, "b"),
            Stamp::new(1, true, "a"),
            Stamp::new(2, true, "a"),
            Stamp::new(2, false, "a"),
            Stamp::new(1, false, "z"),
        ];
        stamps.sort();
        assert_eq!(
            stamps,
            [
                Stamp::new(1, false, "z"),
                Stamp::new(1, true, "a"),
                Stamp::new(2, false, "a"),
                Stamp::new(2, false, "b"),
                Stamp::new(2, true, "a"),
            ]
        );
    }

    #[test]
    fn local_changes_add_up() {
        use LocalOp::*;
        let cases = [
            (vec![Insert, Update, Update], Insert),
            (vec![Update, Delete], Delete),
            (vec![Delete, Insert], Recreate),
            (vec![Delete, Update], Recreate),
            (vec![Delete, Insert, Update], Recreate),
            (vec![Delete, Insert, Delete], Delete),
            (vec![Update, Update], Update),
        ];
        for (ops, expected) in cases {
            let folded = ops[1..].iter().fold(ops[0], |acc, &op| acc.then(op));
            assert_eq!(folded, expected, "{ops:?}");
        }
    }

    #[test]
    fn edge_rules() {
        let local = |op| (Stamp::new(10, op == LocalOp::Delete, "e1"), op);
        let cases = [
            // (local op, incoming stamp, incoming wins)
            (LocalOp::Delete, Stamp::new(20, false, "e2"), false),
            (LocalOp::Delete, Stamp::new(5, false, "e2"), false),
            (LocalOp::Delete, Stamp::new(20, true, "e2"), true),
            (LocalOp::Delete, Stamp::new(5, true, "e2"), false),
            (LocalOp::Update, Stamp::new(5, true, "e2"), true),
            (LocalOp::Update, Stamp::new(20, false, "e2"), true),
            (LocalOp::Update, Stamp::new(5, false, "e2"), false),
            (LocalOp::Insert, Stamp::new(5, true, "e2"), false),
            (LocalOp::Insert, Stamp::new(20, true, "e2"), true),
            (LocalOp::Recreate, Stamp::new(20, false, "e2"), false),
            (LocalOp::Recreate, Stamp::new(5, true, "e2"), false),
            (LocalOp::Recreate, Stamp::new(20, true, "e2"), true),
        ];
        for (op, incoming, wins) in cases {
            let (stamp, op) = local(op);
            assert_eq!(
                incoming_wins_at_edge(&stamp, op, &incoming),
                wins,
                "{op:?} vs {incoming:?}"
            );
        }
    }

    mod properties {
        use bson::doc;
        use proptest::prelude::*;

        use super::super::*;

        /// An update: which of the fields `a`, `b`, `s.x` it sets (to `value`) or increments,
        /// with its clock and instance.
        #[derive(Debug, Clone)]
        struct Change {
            field: usize,
            value: i32,
            increment: bool,
            hlc: u64,
            instance: &'static str,
        }

        const FIELDS: [&str; 3] = ["a", "b", "s.x"];

        fn change() -> impl Strategy<Value = Change> {
            (
                0..3_usize,
                -50..50_i32,
                any::<bool>(),
                1..6_u64,
                prop_oneof![Just("e1"), Just("e2")],
            )
                .prop_map(|(field, value, increment, hlc, instance)| Change {
                    field,
                    value,
                    increment,
                    hlc,
                    instance,
                })
        }

        fn apply(stored: &Document, version: Version, change: &Change) -> (Document, Version) {
            let path = FIELDS[change.field];
            let segments = split_field_path(path);
            let mut doc = stored.clone();
            let increments = change.increment.then(|| doc! {path: change.value});
            let value = match (change.increment, field_at(stored, &segments)) {
                (true, Some(base)) => add_numbers(base, &Bson::Int32(change.value))
                    .unwrap_or(Bson::Int32(change.value)),
                _ => Bson::Int32(change.value),
            };
            set_field_at(&mut doc, &segments, Some(value));
            let merge = merge_update(
                stored,
                version,
                &doc,
                Some(&[path.to_string()]),
                increments.as_ref(),
                change.hlc,
                change.instance,
            );
            (merge.merged, merge.version)
        }

        fn base() -> (Document, Version) {
            (
                doc! {"_id": 1, "a": 0, "b": 0, "s": {"x": 0}},
                Version::whole(0, false, "hub"),
            )
        }

        proptest! {
            /// Two concurrent changes (distinct stamps) give the same document in either order.
            /// (Not a `$set` and an `$inc` of the same field: the hub's order of arrival decides
            /// between them, and replicas converge on the hub's result.)
            #[test]
            fn concurrent_changes_commute(one in change(), two in change()) {
                prop_assume!((one.hlc, one.instance) != (two.hlc, two.instance));
                prop_assume!(one.field != two.field || one.increment == two.increment);
                let (doc, version) = base();
                let (a, va) = apply(&doc, version.clone(), &one);
                let (ab, _) = apply(&a, va, &two);
                let (b, vb) = apply(&doc, version, &two);
                let (ba, _) = apply(&b, vb, &one);
                prop_assert_eq!(ab, ba);
            }

            /// A `$set` merged twice is merged once.
            #[test]
            fn a_set_is_idempotent(mut one in change()) {
                one.increment = false;
                let (doc, version) = base();
                let (once, v) = apply(&doc, version, &one);
                let (twice, _) = apply(&once, v, &one);
                prop_assert_eq!(once, twice);
            }

            /// Concurrent increments of a counter add up, whatever the clocks.
            #[test]
            fn increments_add_up(one in change(), two in change()) {
                let (mut one, mut two) = (one, two);
                one.increment = true;
                two.increment = true;
                two.field = one.field;
                let (doc, version) = base();
                let (a, va) = apply(&doc, version, &one);
                let (ab, _) = apply(&a, va, &two);
                let segments = split_field_path(FIELDS[one.field]);
                prop_assert_eq!(
                    field_at(&ab, &segments).cloned(),
                    Some(Bson::Int32(one.value + two.value))
                );
            }

            /// A delete wins over a stored document whatever its clocks; an update of a
            /// document another instance deleted loses whatever its clock.
            #[test]
            fn deletes_win(hlc in 0..100_u64, stored in 0..100_u64) {
                let alive = Version::whole(stored, false, "e2");
                prop_assert!(!whole_write_loses(true, false, hlc, "e1", Some(&alive)));
                let deleted = Version::whole(stored, true, "e2");
                prop_assert!(whole_write_loses(false, false, hlc, "e1", Some(&deleted)));
            }
        }
    }
}
