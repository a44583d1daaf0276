//! The small interface Outpost needs from its key-value engine, implemented on sled: named
//! trees, atomic multi-tree batches, ordered range scans and flush. Nothing above this module
//! names sled, so the engine can be replaced if measurements ever demand it.
//!
//! A commit is atomic across a crash in one of two ways, chosen by its [`Visibility`]:
//! - [`Visibility::AtOnce`]: one sled transaction (or batch). Readers see all of it or none.
//!   sled starts a new log buffer for every one and writes it from a thread of its own, which
//!   costs more than the writes themselves when a commit holds one document.
//! - [`Visibility::PerKey`]: the set's writes are first recorded whole under one key of the
//!   journal tree, then applied one by one, then the record is removed. sled recovers a prefix
//!   of its log, so after a crash either the record is there (and [`Kv::open`] applies it
//!   again: a put or delete applied twice leaves the same state) or the whole set and the
//!   record's removal are. Readers may see some keys of the set before others (each key
//!   whole); single-document writes are this kind, as in MongoDB, where readers outside a
//!   transaction see documents, not commits. A set of more than [`PER_KEY_MAX_WRITES`]
//!   writes commits at once instead.

mod journal;
mod reclaim;

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::error::{Error, Result};

/// The key-value store: one sled database.
#[derive(Clone)]
pub struct Kv {
    db: sled::Db,
    /// The tree of [`Visibility::PerKey`] commits' records; `None` for a scratch store, which
    /// is never recovered.
    journal: Option<Tree>,
    commits: Arc<Commits>,
    /// Empties dropped trees in the background; `None` for a scratch store, whose trees are
    /// small and dropped at once.
    reclaimer: Option<Arc<reclaim::Reclaimer>>,
}

/// What commits share: they run one at a time (the journal holds one record), and after one
/// failed part way every later one is refused, because applying another set on top of a
/// half-applied one would leave the journal unable to complete it.
#[derive(Default)]
struct Commits {
    serial: Mutex<()>,
    failed: AtomicBool,
}

/// One named, ordered tree of byte keys to byte values.
pub type Tree = sled::Tree;

use journal::Op;

/// The key of the journal's one record.
const JOURNAL_KEY: &[u8] = b"commit";
/// Most writes a [`Visibility::PerKey`] set commits through the journal; a larger one (an
/// `insertMany` group) commits as one transaction.
const PER_KEY_MAX_WRITES: usize = 64;
/// The journal tree's name (collections' trees are named `docs/...`, `index/...`).
const JOURNAL_TREE: &str = "journal";

/// When readers may see a commit's writes (crash atomicity is the same for both; see the
/// module's documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Visibility {
    /// All at once: multi-document transactions, sync batches, catalog changes.
    #[default]
    AtOnce,
    /// Key by key: writes whose readers need only each document whole.
    PerKey,
}

/// Puts and deletes for several trees, applied atomically by [`Kv::commit`].
#[derive(Default)]
pub struct WriteSet {
    /// Per tree, its writes in order.
    writes: Vec<(Tree, Vec<Op>)>,
    /// When readers may see the writes.
    pub(super) visibility: Visibility,
    /// The sequence number and clock reading of the last history entry this set appends,
    /// published once it commits.
    pub(super) last_history: Option<(u64, u64)>,
    /// Trees this set drops (see [`Kv::drop_tree_in`]), handed to the reclaimer once it
    /// commits.
    dropped: Vec<String>,
}

impl WriteSet {
    pub fn new() -> WriteSet {
        WriteSet::default()
    }

    fn ops(&mut self, tree: &Tree) -> &mut Vec<Op> {
        let position = match self
            .writes
            .iter()
            .position(|(t, _)| t.name() == tree.name())
        {
            Some(p) => p,
            None => {
                self.writes.push((tree.clone(), Vec::new()));
                self.writes.len() - 1
            }
        };
        &mut self.writes[position].1
    }

    pub fn put(&mut self, tree: &Tree, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.ops(tree)
            .push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub fn delete(&mut self, tree: &Tree, key: impl AsRef<[u8]>) {
        self.ops(tree).push((key.as_ref().to_vec(), None));
    }

    /// Whether the set writes nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many writes the set holds.
    fn len(&self) -> usize {
        self.writes.iter().map(|(_, ops)| ops.len()).sum()
    }
}

/// One sled batch per tree of `writes`.
fn sled_batches(writes: &[(Tree, Vec<Op>)]) -> Vec<(Tree, sled::Batch)> {
    writes
        .iter()
        .map(|(tree, ops)| {
            let mut batch = sled::Batch::default();
            for (key, value) in ops {
                match value {
                    Some(v) => batch.insert(key.as_slice(), v.as_slice()),
                    None => batch.remove(key.as_slice()),
                }
            }
            (tree.clone(), batch)
        })
        .collect()
}

/// Applies `ops` to `tree` one write at a time.
fn apply_each(tree: &Tree, ops: &[Op]) -> Result<()> {
    for (key, value) in ops {
        match value {
            Some(value) => tree.insert(key.as_slice(), value.as_slice())?,
            None => tree.remove(key.as_slice())?,
        };
    }
    Ok(())
}

impl Kv {
    /// Opens (or creates) the store in `path`. Background flushes run every `flush_every_ms`;
    /// the page cache holds up to `cache_bytes`.
    ///
    /// A store this process just closed may still hold sled's directory lock for a moment (its
    /// last handles are freed by sled's epoch-based reclamation, not at once): the lock is
    /// tried again for up to [`LOCK_WAIT`] before the error is returned. Another process
    /// holding the store gets the error after that wait.
    pub fn open(path: &Path, flush_every_ms: u64, cache_bytes: u64) -> Result<Kv> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            let opened = sled::Config::new()
                .path(path)
                .cache_capacity(cache_bytes)
                .flush_every_ms(Some(flush_every_ms.max(1)))
                .open();
            match opened {
                Ok(db) => return Kv::recovered(db),
                Err(error) if is_lock_held(&error) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// A store in a temporary directory, removed when dropped (for tests and embedding).
    pub fn temporary(cache_bytes: u64) -> Result<Kv> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(cache_bytes)
            .open()?;
        Kv::recovered(db)
    }

    /// The store of `db`, with the journal's record (a commit a crash interrupted) applied.
    fn recovered(db: sled::Db) -> Result<Kv> {
        let journal = db.open_tree(JOURNAL_TREE)?;
        if let Some(record) = journal.get(JOURNAL_KEY)? {
            let trees = journal::decode(&record)?;
            let writes = trees.iter().map(|(_, ops)| ops.len()).sum::<usize>();
            for (name, ops) in &trees {
                apply_each(&db.open_tree(name)?, ops)?;
            }
            journal.remove(JOURNAL_KEY)?;
            db.flush()?;
            tracing::warn!(writes, "completed a commit that a crash had interrupted");
        }
        let reclaimer = reclaim::Reclaimer::start(db.clone())?;
        Ok(Kv {
            db,
            journal: Some(journal),
            commits: Arc::default(),
            reclaimer: Some(Arc::new(reclaimer)),
        })
    }

    /// A small private store in memory, removed when dropped, with no background flush
    /// (a transaction's snapshot: nothing in it is ever made durable).
    pub fn scratch() -> Result<Kv> {
        let db = sled::Config::new()
            .temporary(true)
            .flush_every_ms(None)
            .cache_capacity(8 << 20)
            .open()?;
        Ok(Kv {
            db,
            journal: None,
            commits: Arc::default(),
            reclaimer: None,
        })
    }

    pub fn tree(&self, name: &str) -> Result<Tree> {
        Ok(self.db.open_tree(name)?)
    }

    /// A new id, unique and increasing across restarts.
    pub fn generate_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    /// Drops tree `name`, whose name is never used again. Its space is reclaimed in the
    /// background (see `reclaim.rs`): its keys stay readable through handles opened before,
    /// until the reclaimer removes them.
    pub fn drop_tree(&self, name: &str) -> Result<()> {
        let mut set = WriteSet::new();
        self.drop_tree_in(&mut set, name)?;
        self.commit(set)
    }

    /// Makes the drop of tree `name` part of `set`: its trash record commits with the set's
    /// other writes (a catalog change), so a crash leaves both or neither, and the reclaimer
    /// starts on it once the set has committed.
    pub fn drop_tree_in(&self, set: &mut WriteSet, name: &str) -> Result<()> {
        if self.reclaimer.is_some() {
            set.put(&self.db.open_tree(reclaim::TRASH_TREE)?, name, []);
        }
        set.dropped.push(name.to_owned());
        Ok(())
    }

    /// Applies every write of `set` atomically: after a crash, all of them or none. Readers
    /// see them as `set.visibility` says.
    ///
    /// An error from a [`Visibility::PerKey`] commit may leave part of the set applied; every
    /// later commit is then refused, and opening the store again completes the set.
    pub fn commit(&self, mut set: WriteSet) -> Result<()> {
        let _serial = self
            .commits
            .serial
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.commits.failed.load(Ordering::SeqCst) {
            return Err(Error::Corrupt(
                "an earlier write failed part way; restart the server to complete it".into(),
            ));
        }
        let dropped = std::mem::take(&mut set.dropped);
        self.commit_writes(set)?;
        for name in dropped {
            match &self.reclaimer {
                Some(reclaimer) => reclaimer.push(&name),
                // A scratch store keeps no trash: its trees are small and go at once.
                None => {
                    self.db.drop_tree(name.as_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// Applies `set`'s writes (the serial lock held).
    fn commit_writes(&self, set: WriteSet) -> Result<()> {
        if set.is_empty() {
            return Ok(());
        }
        // A large set shares the transaction's fixed cost among its writes, and its journal
        // record would copy them all: it commits at once (which readers may always get).
        let visibility = if set.len() > PER_KEY_MAX_WRITES {
            Visibility::AtOnce
        } else {
            set.visibility
        };
        match (visibility, &self.journal) {
            (Visibility::PerKey, Some(journal)) => {
                let result = commit_journaled(journal, &set.writes);
                if result.is_err() {
                    self.commits.failed.store(true, Ordering::SeqCst);
                }
                result
            }
            // A scratch store is never recovered: its writes need no record.
            (Visibility::PerKey, None) => {
                for (tree, ops) in &set.writes {
                    apply_each(tree, ops)?;
                }
                Ok(())
            }
            (Visibility::AtOnce, _) => commit_at_once(&set.writes),
        }
    }

    /// Waits until everything written so far is durable on disk.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// Iterates `tree` over a byte range, forwards or backwards, as owned pairs.
pub fn range(
    tree: &Tree,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    reverse: bool,
) -> Box<dyn Iterator<Item = Result<(sled::IVec, sled::IVec)>> + Send> {
    // sled panics on an inverted range; an empty range is what the caller means.
    if range_is_empty(&start, &end) {
        return Box::new(std::iter::empty());
    }
    let iter = tree.range::<Vec<u8>, _>((start, end));
    if reverse {
        Box::new(iter.rev().map(|r| r.map_err(Error::Engine)))
    } else {
        Box::new(iter.map(|r| r.map_err(Error::Engine)))
    }
}

fn range_is_empty(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e))
        | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        _ => false,
    }
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None` when
/// there is none (the prefix is all 0xFF).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// Records `writes` in the journal, applies them, and removes the record. One write needs no
/// record: sled applies it whole.
fn commit_journaled(journal: &Tree, writes: &[(Tree, Vec<Op>)]) -> Result<()> {
    let single = writes.iter().map(|(_, ops)| ops.len()).sum::<usize>() == 1;
    if !single {
        let names: Vec<sled::IVec> = writes.iter().map(|(tree, _)| tree.name()).collect();
        let record = journal::encode(
            names
                .iter()
                .zip(writes)
                .map(|(name, (_, ops))| (name.as_ref(), ops.as_slice())),
        );
        journal.insert(JOURNAL_KEY, record)?;
    }
    for (tree, ops) in writes {
        apply_each(tree, ops)?;
    }
    if !single {
        journal.remove(JOURNAL_KEY)?;
    }
    Ok(())
}

/// Applies `writes` in one sled transaction (one batch when they touch one tree).
fn commit_at_once(writes: &[(Tree, Vec<Op>)]) -> Result<()> {
    let mut batches = sled_batches(writes);
    if batches.len() == 1 {
        // One tree: sled applies a batch atomically without a transaction.
        let (tree, batch) = batches.pop().expect("one batch");
        tree.apply_batch(batch)?;
        return Ok(());
    }
    let trees: Vec<Tree> = batches.iter().map(|(t, _)| t.clone()).collect();
    let result: std::result::Result<(), TransactionError<()>> =
        trees.as_slice().transaction(|views| {
            for (view, (_, batch)) in views.iter().zip(batches.iter()) {
                view.apply_batch(batch)?;
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
    match result {
        Ok(()) => Ok(()),
        Err(TransactionError::Storage(e)) => Err(Error::Engine(e)),
        Err(TransactionError::Abort(())) => Err(Error::Corrupt("transaction aborted".into())),
    }
}

/// How long [`Kv::open`] waits for the directory lock of a store closed a moment ago.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether sled refused to open because another handle holds the directory's lock.
fn is_lock_held(error: &sled::Error) -> bool {
    match error {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_atomic_across_trees() {
        let kv = Kv::temporary(1 << 20).expect("temporary store");
        let a = kv.tree("a").expect("tree a");
        let b = kv.tree("b").expect("tree b");
        let mut set = WriteSet::new();
        set.put(&a, b"k1", b"v1");
        set.put(&b, b"k2", b"v2");
        set.delete(&a, b"nothing");
        kv.commit(set).expect("commit");
        assert_eq!(a.get(b"k1").expect("get").as_deref(), Some(&b"v1"[..]));
        assert_eq!(b.get(b"k2").expect("get").as_deref(), Some(&b"v2"[..]));
    }

    #[test]
    fn a_per_key_commit_applies_every_write_and_leaves_no_record() {
        let kv = Kv::temporary(1 << 20).expect("temporary store");
        let a = kv.tree("a").expect("tree a");
        let b = kv.tree("b").expect("tree b");
        a.insert(b"gone", b"x").expect("insert");
        let mut set = WriteSet::new();
        set.visibility = Visibility::PerKey;
        set.put(&a, b"k1", b"v1");
        set.put(&b, b"k2", b"v2");
        set.delete(&a, b"gone");
        kv.commit(set).expect("commit");
        assert_eq!(a.get(b"k1").expect("get").as_deref(), Some(&b"v1"[..]));
        assert_eq!(b.get(b"k2").expect("get").as_deref(), Some(&b"v2"[..]));
        assert_eq!(a.get(b"gone").expect("get"), None);
        let journal = kv.journal.as_ref().expect("a journal");
        assert!(journal.is_empty(), "the record is removed after the commit");
    }

    /// A crash after the record and the first write reached the log: the store opens with
    /// the whole set applied, and the record gone.
    #[test]
    fn opening_a_store_completes_a_commit_a_crash_interrupted() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let kv = Kv::open(dir.path(), 500, 1 << 20).expect("open");
            let a = kv.tree("a").expect("tree a");
            a.insert(b"old", b"x").expect("insert");
            let ops_a: Vec<Op> = vec![
                (b"k1".to_vec(), Some(b"v1".to_vec())),
                (b"old".to_vec(), None),
            ];
            let ops_b: Vec<Op> = vec![(b"k2".to_vec(), Some(b"v2".to_vec()))];
            let record = journal::encode(
                [(&b"a"[..], ops_a.as_slice()), (&b"b"[..], ops_b.as_slice())].into_iter(),
            );
            let journal = kv.journal.as_ref().expect("a journal");
            journal.insert(JOURNAL_KEY, record).expect("record");
            // The first write is applied, the others are not: the crash comes here.
            a.insert(b"k1", b"v1").expect("first write");
            kv.flush().expect("flush");
        }
        let kv = Kv::open(dir.path(), 500, 1 << 20).expect("reopen");
        let a = kv.tree("a").expect("tree a");
        let b = kv.tree("b").expect("tree b");
        assert_eq!(a.get(b"k1").expect("get").as_deref(), Some(&b"v1"[..]));
        assert_eq!(a.get(b"old").expect("get"), None);
        assert_eq!(b.get(b"k2").expect("get").as_deref(), Some(&b"v2"[..]));
        assert!(kv.journal.as_ref().expect("a journal").is_empty());
    }

    #[test]
    fn a_damaged_record_stops_the_store_from_opening() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let kv = Kv::open(dir.path(), 500, 1 << 20).expect("open");
            let journal = kv.journal.as_ref().expect("a journal");
            journal.insert(JOURNAL_KEY, &[1, 7, 0][..]).expect("record");
            kv.flush().expect("flush");
        }
        let error = Kv::open(dir.path(), 500, 1 << 20)
            .err()
            .expect("a damaged record is refused");
        assert!(error.to_string().contains("commit journal"), "{error}");
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
    }

    #[test]
    fn a_store_held_open_is_refused_after_the_wait_and_opens_once_closed() {
        let dir = tempfile::tempdir().expect("dir");
        let held = Kv::open(dir.path(), 500, 1 << 20).expect("open");
        let started = std::time::Instant::now();
        let refused = Kv::open(dir.path(), 500, 1 << 20);
        assert!(refused.is_err(), "a second handle on a held store");
        assert!(started.elapsed() >= LOCK_WAIT);
        drop(held);
        Kv::open(dir.path(), 500, 1 << 20).expect("reopen after close");
    }

    #[test]
    fn inverted_range_is_empty() {
        let kv = Kv::temporary(1 << 20).expect("temporary store");
        let a = kv.tree("a").expect("tree a");
        a.insert(b"m", b"").expect("insert");
        let n = range(
            &a,
            Bound::Included(b"z".to_vec()),
            Bound::Excluded(b"a".to_vec()),
            false,
        )
        .count();
        assert_eq!(n, 0);
    }

    /// Waits (up to ten seconds) until the reclaimer has emptied every dropped tree.
    fn wait_for_reclaimer(kv: &Kv) {
        let reclaimer = kv.reclaimer.as_ref().expect("a reclaimer");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !reclaimer.is_idle() {
            assert!(
                std::time::Instant::now() < deadline,
                "the reclaimer is stuck"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn tree_exists(kv: &Kv, name: &str) -> bool {
        kv.db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == name.as_bytes())
    }

    fn fill(tree: &Tree, keys: u32) {
        for i in 0..keys {
            tree.insert(i.to_be_bytes(), vec![7u8; 100])
                .expect("insert");
        }
    }

    #[test]
    fn a_dropped_tree_is_emptied_and_dropped_in_the_background() {
        let kv = Kv::temporary(1 << 20).expect("temporary store");
        fill(&kv.tree("docs/1").expect("tree"), 5_000);
        let kept = kv.tree("docs/2").expect("tree");
        fill(&kept, 10);
        kv.drop_tree("docs/1").expect("drop");
        wait_for_reclaimer(&kv);
        assert!(!tree_exists(&kv, "docs/1"));
        assert_eq!(kept.len(), 10, "another tree is untouched");
        let trash = kv.tree(reclaim::TRASH_TREE).expect("trash");
        assert!(trash.is_empty(), "the trash record is removed");
    }

    #[test]
    fn a_drop_in_a_set_commits_with_the_set_or_not_at_all() {
        let kv = Kv::temporary(1 << 20).expect("temporary store");
        fill(&kv.tree("docs/1").expect("tree"), 100);
        let catalog = kv.tree("catalog").expect("tree");
        let trash = kv.tree(reclaim::TRASH_TREE).expect("trash");

        // A refused commit (here: a store whose earlier write failed part way) drops nothing.
        kv.commits.failed.store(true, Ordering::SeqCst);
        let mut set = WriteSet::new();
        set.delete(&catalog, "db.c");
        kv.drop_tree_in(&mut set, "docs/1").expect("stage drop");
        assert!(kv.commit(set).is_err());
        assert!(trash.is_empty(), "no trash record without the commit");
        assert_eq!(kv.tree("docs/1").expect("tree").len(), 100);

        kv.commits.failed.store(false, Ordering::SeqCst);
        catalog.insert("db.c", "meta").expect("insert");
        let mut set = WriteSet::new();
        set.delete(&catalog, "db.c");
        kv.drop_tree_in(&mut set, "docs/1").expect("stage drop");
        kv.commit(set).expect("commit");
        assert!(catalog.is_empty());
        wait_for_reclaimer(&kv);
        assert!(!tree_exists(&kv, "docs/1"));
        assert!(trash.is_empty());
    }

    #[test]
    fn a_dropped_tree_the_reclaimer_did_not_finish_is_emptied_after_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let kv = Kv::open(dir.path(), 500, 1 << 20).expect("open");
            fill(&kv.tree("docs/1").expect("tree"), 20_000);
            // Recorded in the trash as a drop does, but not handed to this run's reclaimer:
            // the state a restart finds after a drop it did not finish.
            kv.tree(reclaim::TRASH_TREE)
                .expect("trash")
                .insert("docs/1", &[])
                .expect("record");
            kv.flush().expect("flush");
        }
        let kv = Kv::open(dir.path(), 500, 1 << 20).expect("reopen");
        wait_for_reclaimer(&kv);
        assert!(!tree_exists(&kv, "docs/1"));
        assert!(kv.tree(reclaim::TRASH_TREE).expect("trash").is_empty());
    }

    /// A store closed right after it opened stops its reclaimer (a stop missed by a
    /// reclaimer about to wait would hang the close).
    #[test]
    fn stores_closed_at_once_do_not_hang() {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..250 {
                        drop(Kv::temporary(1 << 20).expect("temporary store"));
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker");
        }
    }

    #[test]
    fn closing_a_store_stops_its_reclaimer_and_the_files_open_again() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let kv = Kv::open(dir.path(), 500, 1 << 20).expect("open");
            fill(&kv.tree("docs/1").expect("tree"), 50_000);
            kv.drop_tree("docs/1").expect("drop");
            kv.flush().expect("flush");
        }
        // The reclaimer stopped (finished or not) and let go of the files.
        let kv = Kv::open(dir.path(), 500, 1 << 20).expect("reopen");
        wait_for_reclaimer(&kv);
        assert!(!tree_exists(&kv, "docs/1"));
    }
}
