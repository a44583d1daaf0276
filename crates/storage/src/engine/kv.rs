//! The small interface Outpost needs from its key-value engine, implemented on sled: named
//! trees, atomic multi-tree batches, ordered range scans and flush. Nothing above this module
//! names sled, so the engine can be replaced if measurements ever demand it.

use std::ops::Bound;
use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::error::{Error, Result};

/// The key-value store: one sled database.
#[derive(Clone)]
pub struct Kv {
    db: sled::Db,
}

/// One named, ordered tree of byte keys to byte values.
pub type Tree = sled::Tree;

/// One write to a tree: a put (`Some` value) or a delete (`None`).
type Op = (Vec<u8>, Option<Vec<u8>>);

/// Puts and deletes for several trees, applied atomically by [`Kv::commit`].
#[derive(Default)]
pub struct WriteSet {
    /// Per tree, its writes in order.
    writes: Vec<(Tree, Vec<Op>)>,
    /// The sequence number and clock reading of the last history entry this set appends,
    /// published once it commits.
    pub(super) last_history: Option<(u64, u64)>,
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

    fn into_sled_batches(self) -> Vec<(Tree, sled::Batch)> {
        self.writes
            .into_iter()
            .map(|(tree, ops)| {
                let mut batch = sled::Batch::default();
                for (key, value) in ops {
                    match value {
                        Some(v) => batch.insert(key, v),
                        None => batch.remove(key),
                    }
                }
                (tree, batch)
            })
            .collect()
    }
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
                Ok(db) => return Ok(Kv { db }),
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
        Ok(Kv { db })
    }

    /// A small private store in memory, removed when dropped, with no background flush
    /// (a transaction's snapshot: nothing in it is ever made durable).
    pub fn scratch() -> Result<Kv> {
        let db = sled::Config::new()
            .temporary(true)
            .flush_every_ms(None)
            .cache_capacity(8 << 20)
            .open()?;
        Ok(Kv { db })
    }

    pub fn tree(&self, name: &str) -> Result<Tree> {
        Ok(self.db.open_tree(name)?)
    }

    /// A new id, unique and increasing across restarts.
    pub fn generate_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    pub fn drop_tree(&self, name: &str) -> Result<()> {
        self.db.drop_tree(name)?;
        Ok(())
    }

    /// Applies every write of `set` atomically: all of them or none.
    pub fn commit(&self, set: WriteSet) -> Result<()> {
        let mut writes = set.into_sled_batches();
        if writes.len() <= 1 {
            // One tree: sled applies a batch atomically without a transaction.
            if let Some((tree, batch)) = writes.pop() {
                tree.apply_batch(batch)?;
            }
            return Ok(());
        }
        let trees: Vec<Tree> = writes.iter().map(|(t, _)| t.clone()).collect();
        let result: std::result::Result<(), TransactionError<()>> =
            trees.as_slice().transaction(|views| {
                for (view, (_, batch)) in views.iter().zip(writes.iter()) {
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
}
