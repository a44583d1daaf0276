//! A session's transaction as a state machine: which transaction number it is on and where
//! that transaction stands. Pure logic: what a command carrying `txnNumber` and
//! `autocommit: false` may do, as mongod's `TransactionParticipant` decides it.

use bson::Document;

use crate::error::{Error, Result};

/// The label that tells a driver to retry the whole transaction.
pub const TRANSIENT: &str = "TransientTransactionError";
/// The label that tells a driver to retry `commitTransaction`: the outcome is not known.
pub const UNKNOWN_COMMIT: &str = "UnknownTransactionCommitResult";

/// Where a session's latest transaction stands.
pub enum Phase<A> {
    /// No transaction was started with the current number.
    None,
    /// Started and open: its statements run, it may commit or abort.
    Active(A),
    /// Committed: a retried `commitTransaction` gets this reply again.
    Committed(Document),
    /// Aborted (by `abortTransaction`, a failed statement or commit, its lifetime, or the
    /// end of its session); the reason is told to the next command of the transaction.
    Aborted(String),
}

/// A session's transaction number and its phase. `A` is the open transaction's data.
pub struct TxnState<A> {
    pub number: i64,
    pub phase: Phase<A>,
}

impl<A> Default for TxnState<A> {
    fn default() -> TxnState<A> {
        TxnState {
            number: 0,
            phase: Phase::None,
        }
    }
}

/// What a command of a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A statement with `startTransaction: true`: the transaction's first.
    Start,
    /// A later statement (`find`, `insert`, ... without `startTransaction`).
    Statement,
    Commit,
    Abort,
}

/// What to do with the command.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Start a new transaction with this number (the previous one, if open, is dropped).
    Begin,
    /// Run in the open transaction.
    Continue,
    /// A retried commit of a committed transaction: answer with its reply again.
    AlreadyCommitted(Document),
}

impl<A> TxnState<A> {
    /// Decides what a command of kind `kind` with transaction number `number` does.
    pub fn step(&self, number: i64, kind: Kind) -> Result<Step> {
        if number < self.number {
            return Err(Error::new(
                225,
                format!(
                    "Cannot start transaction {number} on session because a newer transaction \
                     {} has already started.",
                    self.number
                ),
            ));
        }
        if kind == Kind::Start {
            if number == self.number && !matches!(self.phase, Phase::None) {
                return Err(Error::new(
                    50911,
                    format!(
                        "Cannot start a transaction at given transaction number {number} a \
                         transaction with the same number is in state {}",
                        self.phase_name()
                    ),
                ));
            }
            return Ok(Step::Begin);
        }
        if number > self.number || matches!(self.phase, Phase::None) {
            return Err(no_such_transaction(format!(
                "Given transaction number {number} does not match any in-progress transactions. \
                 The active transaction number is {}",
                self.number
            )));
        }
        match (&self.phase, kind) {
            (Phase::Active(_), _) => Ok(Step::Continue),
            (Phase::Committed(reply), Kind::Commit) => Ok(Step::AlreadyCommitted(reply.clone())),
            (Phase::Committed(_), _) => Err(Error::new(
                256,
                format!("Transaction {number} has been committed."),
            )),
            (Phase::Aborted(reason), _) => Err(no_such_transaction(format!(
                "Transaction with txnNumber {number} has been aborted: {reason}"
            ))),
            (Phase::None, _) => Err(no_such_transaction(format!(
                "Given transaction number {number} does not match any in-progress transactions."
            ))),
        }
    }

    /// Starts transaction `number` with `active` as its data.
    pub fn begin(&mut self, number: i64, active: A) {
        self.number = number;
        self.phase = Phase::Active(active);
    }

    /// Aborts the open transaction (if any), giving the reason later commands are told.
    pub fn abort(&mut self, reason: impl Into<String>) {
        if matches!(self.phase, Phase::Active(_)) {
            self.phase = Phase::Aborted(reason.into());
        }
    }

    /// The open transaction's data.
    pub fn active_mut(&mut self) -> Option<&mut A> {
        match &mut self.phase {
            Phase::Active(a) => Some(a),
            _ => None,
        }
    }

    /// Takes the open transaction's data out, leaving the transaction committed with `reply`.
    pub fn take_for_commit(&mut self) -> Option<A> {
        match std::mem::replace(&mut self.phase, Phase::None) {
            Phase::Active(a) => Some(a),
            other => {
                self.phase = other;
                None
            }
        }
    }

    fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::None => "None",
            Phase::Active(_) => "InProgress",
            Phase::Committed(_) => "Committed",
            Phase::Aborted(_) => "Aborted",
        }
    }
}

/// NoSuchTransaction (251), labelled so that a driver retries the whole transaction.
pub fn no_such_transaction(message: String) -> Error {
    Error::new(251, message).with_label(TRANSIENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn code(r: Result<Step>) -> i32 {
        r.map_err(|e| e.code()).err().unwrap_or(0)
    }

    #[test]
    fn a_transaction_starts_runs_and_commits_once() {
        let mut s: TxnState<u8> = TxnState::default();
        assert_eq!(code(s.step(1, Kind::Statement)), 251);
        assert_eq!(code(s.step(1, Kind::Commit)), 251);
        assert_eq!(s.step(1, Kind::Start).ok(), Some(Step::Begin));
        s.begin(1, 7);
        assert_eq!(s.step(1, Kind::Statement).ok(), Some(Step::Continue));
        assert_eq!(code(s.step(1, Kind::Start)), 50911);
        assert_eq!(s.take_for_commit(), Some(7));
        s.phase = Phase::Committed(doc! {"ok": 1});
        assert_eq!(
            s.step(1, Kind::Commit).ok(),
            Some(Step::AlreadyCommitted(doc! {"ok": 1}))
        );
        assert_eq!(code(s.step(1, Kind::Abort)), 256);
        assert_eq!(code(s.step(1, Kind::Statement)), 256);
        assert_eq!(code(s.step(0, Kind::Start)), 225);
        assert_eq!(s.step(2, Kind::Start).ok(), Some(Step::Begin));
    }

    #[test]
    fn an_aborted_transaction_answers_no_such_transaction_with_the_transient_label() {
        let mut s: TxnState<u8> = TxnState::default();
        s.begin(3, 1);
        s.abort("expired");
        let err = s
            .step(3, Kind::Commit)
            .err()
            .map(|e| (e.code(), e.labels().to_vec()));
        assert_eq!(err, Some((251, vec![TRANSIENT])));
        assert_eq!(s.take_for_commit(), None);
        // A newer number starts afresh; an older one is too old.
        assert_eq!(code(s.step(2, Kind::Start)), 225);
        assert_eq!(code(s.step(4, Kind::Statement)), 251);
        assert_eq!(s.step(4, Kind::Start).ok(), Some(Step::Begin));
    }
}
