//! `getMore`: the next batch of an open cursor.

use std::time::Instant;

use bson::{doc, Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::cursor::next_batch;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "getMore",
    aliases: &[],
    help: "the next batch of a cursor: { getMore: <cursor id>, collection: <coll>, batchSize }",
    admin_only: false,
    action: Action::Read,
    counter: Counter::GetMore,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let id = match req.body.get("getMore") {
        Some(Bson::Int64(id)) => *id,
        Some(Bson::Int32(id)) => i64::from(*id),
        Some(other) => {
            return Err(Error::type_mismatch(format!(
                "BSON field 'getMore.getMore' is the wrong type '{}', expected type 'long'",
                outpost_storage::value::compare::type_name(other)
            )))
        }
        None => return Err(Error::failed_to_parse("missing cursor id")),
    };
    let coll = args::opt_str(req.body, "getMore", "collection")?.ok_or_else(|| {
        Error::new(
            40414,
            "BSON field 'getMore.collection' is missing but a required field",
        )
    })?;
    let batch_size =
        super::cursor_reply::batch_size(req.body, "getMore", "batchSize")?.filter(|n| *n > 0);
    let deadline = args::deadline(req.body, "getMore")?;
    let ns = format!("{}.{coll}", req.db);
    let cursor = state
        .cursors
        .get(id)
        .ok_or_else(|| Error::new(43, format!("cursor id {id} not found")))?;
    let mut cursor = cursor.lock().unwrap_or_else(|p| p.into_inner());
    crate::auth::check_cursor_owner(state, req.conn, &cursor.owner, id)?;
    if cursor.ns != ns
        && !(cursor.ns.starts_with(&format!("{}.$cmd", req.db)) && coll.starts_with("$cmd"))
    {
        return Err(Error::new(
            13,
            format!("Requested getMore on namespace '{ns}', but cursor belongs to a different namespace {}", cursor.ns),
        ));
    }
    if let Some(stream) = cursor.stream.as_mut() {
        let result = crate::change_stream::get_more(state, stream, req.body, batch_size);
        cursor.last_used = Instant::now();
        let reply_ns = cursor.ns.clone();
        drop(cursor);
        return change_stream_reply(state, id, reply_ns, result);
    }
    if cursor.tail.is_some() {
        let max_await =
            tail_max_await(req.body, cursor.tail.as_ref().is_some_and(|t| t.await_data))?;
        let result = match cursor.tail.as_mut() {
            Some(tail) => tail.next_batch(state, batch_size, max_await),
            None => Ok(Vec::new()),
        };
        let done = cursor.tail.as_ref().is_some_and(|t| t.done());
        cursor.last_used = Instant::now();
        let reply_ns = cursor.ns.clone();
        drop(cursor);
        let batch = result.inspect_err(|_| {
            state.cursors.remove(id);
        })?;
        // A tailable cursor stays open at the end of the collection, until its limit.
        let next_id = if done {
            state.cursors.remove(id);
            0
        } else {
            id
        };
        return Ok(doc! {
            "cursor": {
                "nextBatch": Bson::Array(batch.into_iter().map(Bson::Document).collect()),
                "id": next_id,
                "ns": reply_ns,
            }
        });
    }
    let result = next_batch(&mut cursor.docs, batch_size, deadline);
    cursor.last_used = Instant::now();
    let reply_ns = cursor.ns.clone();
    drop(cursor);
    let (batch, exhausted) = match result {
        Ok(b) => b,
        Err(e) => {
            state.cursors.remove(id);
            return Err(e);
        }
    };
    let next_id = if exhausted {
        state.cursors.remove(id);
        0
    } else {
        id
    };
    Ok(doc! {
        "cursor": {
            "nextBatch": Bson::Array(batch.into_iter().map(Bson::Document).collect()),
            "id": next_id,
            "ns": reply_ns,
        }
    })
}

/// A change stream's `getMore` reply: the events, the position read up to, and the cursor
/// (closed after an `invalidate`, or on an error).
fn change_stream_reply(
    state: &State,
    id: i64,
    ns: String,
    result: Result<crate::change_stream::Batch>,
) -> Result<Document> {
    let batch = match result {
        Ok(batch) => batch,
        Err(e) => {
            state.cursors.remove(id);
            return Err(e);
        }
    };
    let next_id = if batch.ended {
        state.cursors.remove(id);
        0
    } else {
        id
    };
    Ok(doc! {
        "cursor": {
            "nextBatch": batch.events,
            "postBatchResumeToken": batch.post_batch_resume_token,
            "id": next_id,
            "ns": ns,
        }
    })
}

/// How long an awaitData `getMore` may wait for new documents: its `maxTimeMS`. mongod
/// refuses `maxTimeMS` on a `getMore` of any other tailable cursor.
fn tail_max_await(body: &Document, await_data: bool) -> Result<Option<std::time::Duration>> {
    match args::opt_i64(body, "getMore", "maxTimeMS")? {
        None => Ok(None),
        Some(_) if !await_data => Err(Error::bad_value(
            "cannot set maxTimeMS on getMore command for a non-awaitData cursor",
        )),
        Some(ms) if ms < 0 => Err(Error::bad_value(format!(
            "{ms} value for maxTimeMS is out of range"
        ))),
        Some(ms) => Ok(Some(std::time::Duration::from_millis(ms.unsigned_abs()))),
    }
}
