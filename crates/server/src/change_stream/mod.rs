//! Change streams: `aggregate` with a leading `$changeStream` stage on a collection, a database
//! (`aggregate: 1`) or the deployment (`admin`, `allChangesForCluster: true`), read from the
//! history log. The cursor stays open; `getMore` waits (up to `maxTimeMS`, default one second)
//! for the next commit through storage's commit watch, never polling.
//!
//! Every batch carries `postBatchResumeToken`, the position the stream has read up to; events'
//! `_id` is the position just after them. Both resume exactly (`resumeAfter`, `startAfter`).

mod events;
mod token;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use outpost_storage::agg::{AggOptions, Pipeline};

use crate::error::{Error, Result};
use crate::replset::timestamp_to_hlc;
use crate::state::State;
pub use events::Scope;
use events::{BeforeChange, EventOptions, FullDocument};
use token::Position;

/// Stages allowed after `$changeStream` (they see one event at a time).
const FOLLOWING_STAGES: &[&str] = &[
    "$match",
    "$project",
    "$addFields",
    "$set",
    "$unset",
    "$replaceRoot",
    "$replaceWith",
    "$redact",
];

/// History entries one batch reads at most, so a batch answers in bounded time even when
/// nothing in a long stretch of history concerns the stream.
const MAX_ENTRIES_PER_BATCH: usize = 10_000;

/// How long `getMore` waits for a change when the driver gives no `maxTimeMS`.
const DEFAULT_AWAIT: Duration = Duration::from_secs(1);

/// A waiting `getMore` checks this often whether the server is shutting down.
const SHUTDOWN_CHECK: Duration = Duration::from_secs(1);

/// An open change stream: what it watches, how it renders events and where it is.
pub struct ChangeStream {
    options: EventOptions,
    pipeline: Option<Pipeline>,
    agg: AggOptions,
    position: Position,
    /// Entries with an earlier clock are not reported (`startAtOperationTime`).
    start_hlc: u64,
    /// An `invalidate` event was returned: the stream is over.
    ended: bool,
}

/// A batch of events and whether the stream ended with it.
pub struct Batch {
    pub events: Vec<Document>,
    pub post_batch_resume_token: Document,
    pub ended: bool,
}

impl ChangeStream {
    /// Opens a stream from the `$changeStream` stage `spec` and the stages after it.
    pub fn open(
        state: &State,
        db: &str,
        coll: Option<&str>,
        spec: &Bson,
        following: &[Document],
    ) -> Result<ChangeStream> {
        if state.config.standalone {
            return Err(Error::new(
                40573,
                "The $changeStream stage is only supported on replica sets (this server runs with --standalone)",
            ));
        }
        let Bson::Document(spec) = spec else {
            return Err(Error::type_mismatch(
                "the $changeStream stage specification must be an object",
            ));
        };
        let scope = scope(state, db, coll, spec)?;
        let mut full_document = FullDocument::Default;
        let mut before_change = BeforeChange::Off;
        let mut start = None;
        for (key, value) in spec {
            let string = || {
                value.as_str().ok_or_else(|| {
                    Error::type_mismatch(format!(
                        "BSON field '$changeStream.{key}' is the wrong type, expected type 'string'"
                    ))
                })
            };
            match key.as_str() {
                "fullDocument" => full_document = FullDocument::parse(string()?)?,
                "fullDocumentBeforeChange" => before_change = BeforeChange::parse(string()?)?,
                "allChangesForCluster" => {}
                "showExpandedEvents" if value.as_bool() != Some(true) => {}
                "showExpandedEvents" => {
                    return Err(Error::not_supported(
                        "$changeStream.showExpandedEvents is not supported by Outpost",
                    ))
                }
                "resumeAfter" | "startAfter" | "startAtOperationTime" => {
                    if start.is_some() {
                        return Err(Error::new(
                            40674,
                            "Only one type of resume option is allowed, but multiple were found.",
                        ));
                    }
                    start = Some((key.as_str(), value));
                }
                other => {
                    return Err(Error::new(
                        40415,
                        format!("BSON field '$changeStream.{other}' is an unknown field."),
                    ))
                }
            }
        }
        let position = start_position(state, start)?;
        let start_hlc = match start {
            Some(("startAtOperationTime", _)) => position.hlc,
            _ => 0,
        };
        Ok(ChangeStream {
            options: EventOptions {
                scope,
                full_document,
                before_change,
            },
            pipeline: following_pipeline(following)?,
            agg: AggOptions {
                db: db.to_owned(),
                ..AggOptions::default()
            },
            position,
            start_hlc,
            ended: false,
        })
    }

    /// The next batch: events committed after the stream's position, at most `max_events`.
    /// With `wait`, waits up to that long for a commit when there is nothing to return.
    pub fn next_batch(
        &mut self,
        state: &State,
        max_events: Option<usize>,
        wait: Option<Duration>,
    ) -> Result<Batch> {
        let deadline = wait.map(|w| Instant::now() + w);
        let mut events = Vec::new();
        loop {
            self.read(state, max_events, &mut events)?;
            if !events.is_empty() || self.ended {
                break;
            }
            let Some(deadline) = deadline else { break };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if state.shutting_down.load(Ordering::Relaxed) {
                break;
            }
            if state.storage.committed_seq() < self.position.next_seq() {
                // A commit wakes the wait at once; the slice only bounds how long a shutdown
                // waits for this request.
                state.storage.wait_for_commit_after(
                    self.position.next_seq().saturating_sub(1),
                    left.min(SHUTDOWN_CHECK),
                );
            }
        }
        Ok(Batch {
            events,
            post_batch_resume_token: self.position.to_token(),
            ended: self.ended,
        })
    }

    /// Reads committed history from the stream's position into `out`.
    fn read(
        &mut self,
        state: &State,
        max_events: Option<usize>,
        out: &mut Vec<Document>,
    ) -> Result<()> {
        let last = state.storage.committed_seq();
        let mut bytes = 0;
        let entries = state
            .storage
            .history_from(self.position.next_seq())
            .take(MAX_ENTRIES_PER_BATCH);
        for entry in entries {
            let entry = entry?;
            if entry.seq > last {
                break;
            }
            let rendered = if entry.hlc < self.start_hlc {
                Vec::new()
            } else {
                events::events(&state.storage, &entry, &self.options)?
            };
            for (index, event) in rendered.into_iter().enumerate() {
                let index = u8::try_from(index).unwrap_or(token::WHOLE_ENTRY - 1);
                if !self.position.is_before(entry.seq, index) {
                    continue;
                }
                if max_events.is_some_and(|m| out.len() >= m)
                    || bytes >= crate::cursor::MAX_BATCH_BYTES
                {
                    return Ok(());
                }
                let position = Position {
                    seq: entry.seq,
                    hlc: entry.hlc,
                    index,
                    invalidate: event.invalidate,
                };
                let mut doc = doc! {"_id": position.to_token()};
                doc.extend(event.body);
                if let Some(doc) = self.transform(state, doc)? {
                    bytes += outpost_storage::value::size::document_size(&doc);
                    out.push(doc);
                }
                self.position = position;
                if event.invalidate {
                    self.ended = true;
                    return Ok(());
                }
            }
            self.position = Position::after_entry(entry.seq, entry.hlc);
        }
        Ok(())
    }

    /// Runs the stages after `$changeStream` on one event; `None` when filtered out.
    fn transform(&self, state: &State, event: Document) -> Result<Option<Document>> {
        let Some(pipeline) = &self.pipeline else {
            return Ok(Some(event));
        };
        let token = event.get("_id").cloned();
        let out = pipeline.run(
            Box::new(std::iter::once(Ok(event))),
            &state.storage,
            &self.agg,
        )?;
        match out.into_iter().next() {
            None => Ok(None),
            Some(doc) if doc.get("_id").cloned() == token => Ok(Some(doc)),
            Some(_) => Err(Error::new(
                280,
                "Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.",
            )),
        }
    }
}

/// What the stream watches, from where `aggregate` ran.
fn scope(state: &State, db: &str, coll: Option<&str>, spec: &Document) -> Result<Scope> {
    let all = match spec.get("allChangesForCluster") {
        None => false,
        Some(Bson::Boolean(b)) => *b,
        Some(_) => {
            return Err(Error::type_mismatch(
                "BSON field '$changeStream.allChangesForCluster' is the wrong type, expected type 'bool'",
            ))
        }
    };
    match coll {
        _ if all && (db != "admin" || coll.is_some()) => Err(Error::new(
            72,
            "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with {aggregate: 1}",
        )),
        None if all => Ok(Scope::Cluster),
        _ if events::INTERNAL_DATABASES.contains(&db) => Err(Error::new(
            73,
            format!("$changeStream may not be opened on the internal {db} database"),
        )),
        None => Ok(Scope::Database(db.to_owned())),
        Some(coll) if coll.starts_with("system.") => Err(Error::new(
            73,
            format!("$changeStream may not be opened on the internal {db}.{coll} collection"),
        )),
        Some(coll) => {
            if state.storage.view_definition(db, coll).is_some() {
                return Err(Error::new(
                    166,
                    format!("Namespace {db}.{coll} is a view, not a collection"),
                ));
            }
            Ok(Scope::Collection {
                db: db.to_owned(),
                coll: coll.to_owned(),
            })
        }
    }
}

/// Where a new stream starts: now, or where its resume option says.
fn start_position(state: &State, start: Option<(&str, &Bson)>) -> Result<Position> {
    let storage = &state.storage;
    let history_lost = || {
        Error::new(
            286,
            "Resume of change stream was not possible, as the resume point may no longer be in the oplog.",
        )
    };
    let first = storage.first_seq()?;
    let position = match start {
        None => {
            let seq = storage.committed_seq();
            return Ok(Position::after_entry(
                seq,
                storage.committed_hlc()?.unwrap_or(0),
            ));
        }
        Some(("startAtOperationTime", value)) => {
            let Bson::Timestamp(ts) = value else {
                return Err(Error::type_mismatch(
                    "BSON field '$changeStream.startAtOperationTime' is the wrong type, expected type 'timestamp'",
                ));
            };
            let hlc = timestamp_to_hlc(*ts);
            let seq = storage.seq_at_or_after_hlc(hlc)?;
            if let Some(first) = first.filter(|f| *f == seq && *f > 1) {
                let kept_from = storage.history_entry(first)?.map_or(u64::MAX, |e| e.hlc);
                if kept_from > hlc {
                    return Err(history_lost());
                }
            }
            return Ok(Position::after_entry(seq.saturating_sub(1), hlc));
        }
        Some((field, value)) => {
            let position = Position::from_token(value, field)?;
            if position.invalidate && field == "resumeAfter" {
                return Err(Error::new(
                    260,
                    "Cannot resume after an invalidate event with resumeAfter: use startAfter to start a new stream after it",
                ));
            }
            position
        }
    };
    // The entry the token names may be trimmed already (it is behind the stream); the next one
    // must be kept.
    match first {
        Some(first) if first > position.seq.saturating_add(1) => Err(history_lost()),
        None if position.seq > 0 => Err(history_lost()),
        _ => Ok(position),
    }
}

fn following_pipeline(stages: &[Document]) -> Result<Option<Pipeline>> {
    if stages.is_empty() {
        return Ok(None);
    }
    for stage in stages {
        let name = stage.keys().next().map(String::as_str).unwrap_or_default();
        if name == "$changeStream" {
            return Err(Error::new(
                40602,
                "$changeStream is only valid as the first stage in a pipeline.",
            ));
        }
        if !FOLLOWING_STAGES.contains(&name) {
            return Err(Error::new(
                20,
                format!(
                    "{name} is not permitted in a $changeStream pipeline (Outpost allows {} after $changeStream)",
                    FOLLOWING_STAGES.join(", ")
                ),
            ));
        }
    }
    Ok(Some(Pipeline::parse(stages)?))
}

/// Runs `aggregate` with a leading `$changeStream`: opens the stream, returns its first batch
/// (without waiting) and registers its cursor.
pub fn aggregate(
    state: &State,
    conn: &crate::state::ConnInfo,
    db: &str,
    coll: Option<&str>,
    stages: &[Document],
    batch_size: Option<usize>,
) -> Result<Document> {
    let Some((first, following)) = stages.split_first() else {
        return Err(Error::new(1, "no $changeStream stage"));
    };
    let spec = first.get("$changeStream").unwrap_or(&Bson::Null);
    let mut stream = ChangeStream::open(state, db, coll, spec, following)?;
    let batch = stream.next_batch(state, batch_size, None)?;
    let ns = match coll {
        Some(coll) => format!("{db}.{coll}"),
        None => format!("{db}.$cmd.aggregate"),
    };
    let id = if batch.ended {
        0
    } else {
        state.cursors.open(crate::cursor::Cursor {
            ns: ns.clone(),
            docs: crate::cursor::no_documents(),
            last_used: Instant::now(),
            no_timeout: false,
            stream: Some(Box::new(stream)),
            owner: crate::auth::lock(conn).users.clone(),
            tail: None,
        })
    };
    Ok(doc! {
        "cursor": {
            "firstBatch": batch.events,
            "postBatchResumeToken": batch.post_batch_resume_token,
            "id": id,
            "ns": ns,
        }
    })
}

/// `getMore` on a change stream cursor: waits up to `maxTimeMS` for events.
pub fn get_more(
    state: &State,
    stream: &mut ChangeStream,
    body: &Document,
    batch_size: Option<usize>,
) -> Result<Batch> {
    let wait = match crate::args::opt_i64(body, "getMore", "maxTimeMS")? {
        None => DEFAULT_AWAIT,
        Some(ms) => Duration::from_millis(
            u64::try_from(ms)
                .map_err(|_| Error::bad_value("BSON field 'maxTimeMS' value must be >= 0"))?,
        ),
    };
    stream.next_batch(state, batch_size, Some(wait))
}
