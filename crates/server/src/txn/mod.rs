//! Multi-document transactions: `startTransaction`, `autocommit: false` and `txnNumber` on a
//! session's commands, `commitTransaction`, `abortTransaction`.
//!
//! - `state.rs`: the session's transaction number and phase (pure state machine);
//! - `commands.rs`: the commands allowed in a transaction and the namespaces a statement
//!   names (pure);
//! - `snapshot.rs`: an open transaction's private snapshot, its write-conflict checks and its
//!   atomic commit.
//!
//! [`run`] is called by dispatch for every command that carries `autocommit`; it holds the
//! session's transaction slot while the command runs, so one session's statements run one
//! at a time.

pub mod commands;
pub mod snapshot;
pub mod state;
pub mod timeseries;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bson::{doc, Bson, Document};

use crate::cmd::{Command, Request};
use crate::error::{Error, Result};
use crate::state::State;
pub use snapshot::Active;
use state::{Kind, Step, TxnState, UNKNOWN_COMMIT};

/// A session's transaction, shared by the connections that use the session.
pub type TxnSlot = Arc<Mutex<TxnState<Active>>>;

/// Transactions open at once at most (each holds a scratch database in memory).
pub const MAX_OPEN_TRANSACTIONS: usize = 100;

/// One open transaction counted against [`MAX_OPEN_TRANSACTIONS`]; released when dropped.
pub struct Ticket(Arc<AtomicUsize>);

impl Ticket {
    /// Takes a ticket from `open` (the server's count of open transactions).
    pub fn take(open: &Arc<AtomicUsize>) -> Result<Ticket> {
        let before = open.fetch_add(1, Ordering::SeqCst);
        if before >= MAX_OPEN_TRANSACTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::new(
                146,
                format!(
                    "too many open transactions: at most {MAX_OPEN_TRANSACTIONS} may be open at once"
                ),
            ));
        }
        Ok(Ticket(open.clone()))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs a command that carries `autocommit` (a statement of a transaction, or its commit or
/// abort), with `slot` the transaction slot of the command's session.
pub fn run(
    state: &State,
    command: &Command,
    req: &Request,
    slot: Option<TxnSlot>,
) -> Result<Document> {
    if state.config.standalone {
        return Err(Error::new(
            20,
            "Transaction numbers are only allowed on a replica set member or mongos",
        ));
    }
    let kind = kind_of(command.name, req.body)?;
    let slot = slot.ok_or_else(|| {
        Error::new(
            72,
            "Transaction number requires a session ID to also be specified",
        )
    })?;
    let number = crate::args::opt_i64(req.body, command.name, "txnNumber")?.ok_or_else(|| {
        Error::new(
            72,
            "txnNumber must be provided for multi-document transactions",
        )
    })?;
    commands::check_allowed(command.name, req.body)?;
    check_concerns(kind, req.body)?;
    let mut txn = slot.lock().unwrap_or_else(|p| p.into_inner());
    match txn.step(number, kind)? {
        Step::AlreadyCommitted(reply) => return Ok(reply),
        Step::Begin => {
            let ticket = Ticket::take(&state.sessions.open_transactions)?;
            let deadline = Instant::now() + state.config.transaction_lifetime();
            txn.begin(number, Active::begin(&state.storage, deadline, ticket)?);
        }
        Step::Continue => {}
    }
    if txn
        .active_mut()
        .is_some_and(|a| a.deadline <= Instant::now())
    {
        txn.abort(lifetime_reason(
            state.config.transaction_lifetime_limit_secs,
        ));
        return Err(state::no_such_transaction(format!(
            "Transaction with txnNumber {number} has been aborted: {}",
            lifetime_reason(state.config.transaction_lifetime_limit_secs)
        )));
    }
    match kind {
        Kind::Commit => commit(state, req, &mut txn),
        Kind::Abort => {
            txn.abort("abortTransaction was called");
            Ok(doc! {})
        }
        Kind::Start | Kind::Statement => {
            let Some(active) = txn.active_mut() else {
                return Err(Error::new(1, "the transaction is not open"));
            };
            let outcome = statement(state, command, req, active);
            match &outcome {
                Err(e) => txn.abort(format!("a statement failed: {e}")),
                Ok(reply) if reply.contains_key("writeErrors") => {
                    txn.abort("a statement had a write error")
                }
                Ok(_) => {}
            }
            outcome
        }
    }
}

fn lifetime_reason(limit_secs: u64) -> String {
    format!("it was open longer than transactionLifetimeLimitSeconds ({limit_secs} s)")
}

/// What the command is to its transaction, checking `autocommit` and `startTransaction`.
fn kind_of(name: &str, body: &Document) -> Result<Kind> {
    match body.get("autocommit") {
        Some(Bson::Boolean(false)) => {}
        Some(Bson::Boolean(true)) => {
            return Err(Error::new(72, "Specifying autocommit=true is not allowed."))
        }
        Some(_) => return Err(Error::type_mismatch(
            "BSON field 'OperationSessionInfo.autocommit' is the wrong type, expected type 'bool'",
        )),
        None => {
            return Err(Error::new(
                72,
                "startTransaction requires autocommit: false",
            ))
        }
    }
    let start = match body.get("startTransaction") {
        None => false,
        Some(Bson::Boolean(true)) => true,
        Some(_) => return Err(Error::new(72, "startTransaction may only be given as true")),
    };
    Ok(match (name, start) {
        ("commitTransaction" | "abortTransaction", true) => {
            return Err(Error::new(
                263,
                format!("Cannot start a transaction with {name}"),
            ))
        }
        ("commitTransaction", false) => Kind::Commit,
        ("abortTransaction", false) => Kind::Abort,
        (_, true) => Kind::Start,
        (_, false) => Kind::Statement,
    })
}

/// A transaction's read concern is given on its first statement only (`local`, `majority`
/// or `snapshot`: all read its snapshot); a write concern on its commit or abort only.
fn check_concerns(kind: Kind, body: &Document) -> Result<()> {
    if let Some(rc) = body.get("readConcern") {
        if kind != Kind::Start {
            return Err(Error::new(
                72,
                "Only the first command in a transaction may specify a readConcern",
            ));
        }
        let level = match rc {
            Bson::Document(d) => d.get_str("level").ok(),
            _ => None,
        };
        if let Some(level) = level.filter(|l| !["local", "majority", "snapshot"].contains(l)) {
            return Err(Error::new(
                72,
                format!("The readConcern level must be either 'local' (default), 'majority' or 'snapshot' in order to run in a transaction, not '{level}'"),
            ));
        }
    }
    if body.contains_key("writeConcern") && !matches!(kind, Kind::Commit | Kind::Abort) {
        return Err(Error::new(
            72,
            "Cannot set write concern after starting a transaction.",
        ));
    }
    Ok(())
}

/// Runs one statement on the transaction's snapshot and notes what it wrote.
fn statement(
    state: &State,
    command: &Command,
    req: &Request,
    active: &mut Active,
) -> Result<Document> {
    timeseries::check(command.name, req.db, req.body, |db, coll| {
        Ok(state.storage.timeseries_options(db, coll)?.is_some())
    })?;
    for (db, coll) in commands::namespaces(command.name, req.db, req.body) {
        active.snapshot(&state.storage, &db, &coll)?;
    }
    let before = active.scratch_seq();
    let result = {
        let sub = Request {
            db: req.db,
            body: req.body,
            conn: req.conn,
            storage: active.scratch(),
        };
        (command.run)(state, &sub)
    };
    active.note_writes(before)?;
    result
}

/// Commits the open transaction: its writes apply atomically, or it is aborted.
fn commit(state: &State, req: &Request, txn: &mut TxnState<Active>) -> Result<Document> {
    let Some(active) = txn.take_for_commit() else {
        return Err(Error::new(1, "the transaction is not open"));
    };
    if let Err(e) = active.commit(&state.storage) {
        txn.phase = state::Phase::Aborted(format!("its commit failed: {e}"));
        return Err(e);
    }
    let reply = doc! {};
    txn.phase = state::Phase::Committed(reply.clone());
    // The writes are committed; if they cannot be made durable as asked, the outcome the
    // client may rely on is unknown, and a retried commit answers from the record above.
    crate::cmd::flush_if_requested(state, req.body).map_err(|e| e.with_label(UNKNOWN_COMMIT))?;
    Ok(reply)
}

/// Aborts the transactions of `slots` whose lifetime has run out (the maintenance pass);
/// a slot in use by a command is skipped (that command checks the lifetime itself).
pub fn abort_expired<'a>(limit_secs: u64, slots: impl Iterator<Item = &'a TxnSlot>) -> usize {
    let now = Instant::now();
    let mut aborted = 0;
    for slot in slots {
        let Ok(mut txn) = slot.try_lock() else {
            continue;
        };
        if txn.active_mut().is_some_and(|a| a.deadline <= now) {
            txn.abort(lifetime_reason(limit_secs));
            aborted += 1;
        }
    }
    aborted
}
