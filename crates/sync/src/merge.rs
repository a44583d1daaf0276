//! The conflict rules, as pure functions shared by the hub and the edge: both sides must
//! decide every conflict the same way, or replicas diverge.
//!
//! - Last writer wins, by [`Stamp`]: the later hybrid logical clock, then a delete over an
//!   upsert, then the greater instance id.
//! - Deletes win over concurrent updates: an update of a document another instance deleted was
//!   made without seeing the delete, so it loses whatever its clock. A re-insert (an insert
//!   after a delete) is a new document: the clock decides.
//! - Per field, down to fields of embedded documents (the hub's merge); `$inc` deltas add up.

use serde::{Deserialize, Serialize};

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
}
