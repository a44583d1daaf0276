//! Group commit of concurrent single-document inserts.
//!
//! Each insert of one document is queued, then its thread takes the writer lock. The thread
//! that gets the lock stages every queued insert (its own and those of the threads waiting
//! behind it) into one batch and commits the batch once; the others find their outcome when
//! they get the lock in turn. A committed batch is atomic, and every insert in it is staged
//! whole or not at all (a refused document stages nothing and gets its own error), so each
//! insert stays atomic; it is committed before its thread returns, so a following flush
//! (`j: true`) covers it. Under no contention a group holds one insert: nothing waits for a
//! group to fill.

use std::sync::{Arc, Mutex};

use bson::Document;

use super::write::{prepare_for_insert, Batch, WriteOptions};
use super::{Storage, Writer};
use crate::error::{Error, Result};

/// Inserts queued for the next group.
#[derive(Default)]
pub(super) struct InsertQueue {
    pending: Mutex<Vec<Arc<PendingInsert>>>,
}

impl InsertQueue {
    fn push(&self, insert: Arc<PendingInsert>) {
        lock(&self.pending).push(insert);
    }

    fn take(&self) -> Vec<Arc<PendingInsert>> {
        std::mem::take(&mut *lock(&self.pending))
    }
}

/// Takes a lock whatever a panicking holder left: every value guarded here is replaced whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// What became of one queued insert.
enum Outcome {
    /// Committed.
    Inserted,
    /// The document was refused (duplicate key, validation, ...): nothing was written.
    Refused(Error),
    /// The write as a whole failed (the collection could not be created, the commit failed).
    Failed(Error),
}

/// One queued insert.
struct PendingInsert {
    db: String,
    coll: String,
    options: WriteOptions,
    /// The document, until a group takes it.
    doc: Mutex<Option<Document>>,
    outcome: Mutex<Option<Outcome>>,
}

impl PendingInsert {
    fn finish(&self, outcome: Outcome) {
        *lock(&self.outcome) = Some(outcome);
    }
}

/// Most bytes of documents one group commits (as `insert_many`'s groups).
const GROUP_BYTES: usize = 8 * 1024 * 1024;

impl Storage {
    /// Inserts one document, committed in a group with the concurrent inserts of other
    /// threads. Returns the failures as `insert_many` does: the document's refusal as
    /// `[(0, error)]`, an error of the write as a whole as `Err`.
    pub(super) fn insert_one_grouped(
        &self,
        db: &str,
        coll: &str,
        doc: Document,
        options: &WriteOptions,
    ) -> Result<Vec<(usize, Error)>> {
        let doc = match prepare_for_insert(doc) {
            Ok(doc) => doc,
            Err(e) => return Ok(vec![(0, e)]),
        };
        // A caller that may not wait queues nothing unless it holds the lock: a queued insert
        // is committed by whoever takes the lock next, whether or not its caller still waits.
        let held = if self.waits_for_writer {
            None
        } else {
            Some(self.writer_unless_busy()?)
        };
        let me = Arc::new(PendingInsert {
            db: db.to_owned(),
            coll: coll.to_owned(),
            options: options.clone(),
            doc: Mutex::new(Some(doc)),
            outcome: Mutex::new(None),
        });
        self.inner.inserts.push(me.clone());
        let mut w = held.unwrap_or_else(|| self.writer());
        // A thread that held the lock before us may have committed our insert with its group;
        // otherwise it is still queued (whoever takes the queue finishes it before unlocking).
        if lock(&me.outcome).is_none() {
            let group = self.inner.inserts.take();
            self.commit_group(&mut w, &group);
        }
        drop(w);
        let outcome = lock(&me.outcome).take();
        match outcome {
            Some(Outcome::Inserted) => Ok(Vec::new()),
            Some(Outcome::Refused(e)) => Ok(vec![(0, e)]),
            Some(Outcome::Failed(e)) => Err(e),
            None => Err(Error::Corrupt("a grouped insert was lost".into())),
        }
    }

    /// Stages the inserts of `group` into as few batches as possible and commits them,
    /// finishing every insert of the group.
    fn commit_group(&self, w: &mut Writer, group: &[Arc<PendingInsert>]) {
        let mut batch = Batch::of_documents();
        let mut staged: Vec<&PendingInsert> = Vec::new();
        for insert in group {
            let Some(doc) = lock(&insert.doc).take() else {
                continue;
            };
            let collection = match self.collection_or_create(w, &insert.db, &insert.coll) {
                Ok(c) => c,
                Err(e) => {
                    insert.finish(Outcome::Failed(e));
                    continue;
                }
            };
            // A capped collection evicts only committed documents: its inserts commit alone.
            let alone = collection.capped.is_some();
            if alone || batch.bytes >= GROUP_BYTES {
                self.commit_staged(
                    std::mem::replace(&mut batch, Batch::of_documents()),
                    std::mem::take(&mut staged),
                );
            }
            match self.stage_insert(w, &collection, &mut batch, doc, &insert.options) {
                Ok(_) => staged.push(insert),
                Err(e) => insert.finish(Outcome::Refused(e)),
            }
            if alone {
                self.commit_staged(
                    std::mem::replace(&mut batch, Batch::of_documents()),
                    std::mem::take(&mut staged),
                );
            }
        }
        self.commit_staged(batch, staged);
    }

    /// Commits `batch` and finishes the inserts staged in it.
    fn commit_staged(&self, batch: Batch, staged: Vec<&PendingInsert>) {
        if staged.is_empty() {
            return;
        }
        match self.commit_write(batch) {
            Ok(()) => staged
                .iter()
                .for_each(|insert| insert.finish(Outcome::Inserted)),
            Err(e) => staged
                .iter()
                .for_each(|insert| insert.finish(Outcome::Failed(shared_failure(&e)))),
        }
    }
}

/// A commit's error, for each insert of the group it failed.
fn shared_failure(e: &Error) -> Error {
    match e {
        Error::Engine(engine) => Error::Engine(engine.clone()),
        other => Error::Corrupt(format!("commit failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::engine::HistoryOp;

    /// Threads insert the same 40 `_id`s at once: each `_id` is inserted exactly once, every
    /// other attempt gets its own duplicate-key error, and the history holds one insert per
    /// document (whatever groups the inserts happened to share).
    #[test]
    fn concurrent_single_inserts_each_get_their_own_outcome() {
        const THREADS: i32 = 8;
        const IDS: i32 = 40;
        let storage = Storage::temporary().expect("temporary store");
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let storage = storage.clone();
                std::thread::spawn(move || {
                    let mut inserted = 0;
                    let mut duplicates = 0;
                    for i in 0..IDS {
                        let failures = storage
                            .insert_many(
                                "db",
                                "c",
                                vec![doc! {"_id": i, "by": t}],
                                true,
                                &WriteOptions::default(),
                            )
                            .expect("the write as a whole succeeds");
                        match failures.as_slice() {
                            [] => inserted += 1,
                            [(0, Error::DuplicateKey(_))] => duplicates += 1,
                            other => panic!("unexpected outcome {other:?}"),
                        }
                    }
                    (inserted, duplicates)
                })
            })
            .collect();
        let (mut inserted, mut duplicates) = (0, 0);
        for worker in workers {
            let (i, d) = worker.join().expect("worker");
            inserted += i;
            duplicates += d;
        }
        assert_eq!(inserted, IDS);
        assert_eq!(duplicates, IDS * (THREADS - 1));
        assert_eq!(
            storage.collection_stats("db", "c").expect("stats").count,
            u64::try_from(IDS).expect("small")
        );
        let inserts = storage
            .history_from(1)
            .map(|entry| entry.expect("history entry"))
            .filter(|entry| entry.op == HistoryOp::Insert)
            .count();
        assert_eq!(inserts, usize::try_from(IDS).expect("small"));
    }

    /// A refused document in a group leaves the others committed.
    #[test]
    fn a_refused_document_does_not_refuse_its_group() {
        let storage = Storage::temporary().expect("temporary store");
        let options = WriteOptions::default();
        storage
            .insert_many("db", "c", vec![doc! {"_id": 1}], true, &options)
            .expect("insert");
        let failures = storage
            .insert_many("db", "c", vec![doc! {"_id": 1}], true, &options)
            .expect("insert");
        assert!(matches!(failures.as_slice(), [(0, Error::DuplicateKey(_))]));
        let failures = storage
            .insert_many("db", "c", vec![doc! {"_id": 2}], true, &options)
            .expect("insert");
        assert!(failures.is_empty());
        assert_eq!(storage.collection_stats("db", "c").expect("stats").count, 2);
    }

    /// A store that may not wait inserts when the writer lock is free; when another write
    /// holds it, it answers `WriterBusy` and leaves nothing behind for a later group.
    #[test]
    fn an_insert_that_may_not_wait_is_refused_while_the_writer_is_busy_and_leaves_nothing() {
        let storage = Storage::temporary().expect("temporary store");
        let options = WriteOptions::default();
        let unwaiting = storage.without_waiting();
        let failures = unwaiting
            .insert_many("db", "c", vec![doc! {"_id": 1}], true, &options)
            .expect("the lock is free");
        assert!(failures.is_empty());

        let held = storage.writer();
        let busy = unwaiting.insert_many("db", "c", vec![doc! {"_id": 2}], true, &options);
        assert!(matches!(busy, Err(Error::WriterBusy)), "{busy:?}");
        // Many documents would wait for the lock even when it is free: refused too.
        drop(held);
        let many = unwaiting.insert_many(
            "db",
            "c",
            vec![doc! {"_id": 3}, doc! {"_id": 4}],
            true,
            &options,
        );
        assert!(matches!(many, Err(Error::WriterBusy)), "{many:?}");

        // The next group commits only its own insert: the refused ones were never queued.
        storage
            .insert_many("db", "c", vec![doc! {"_id": 5}], true, &options)
            .expect("insert");
        assert_eq!(storage.collection_stats("db", "c").expect("stats").count, 2);
    }
}
