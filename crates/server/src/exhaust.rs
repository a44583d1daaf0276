//! Exhaust cursors (OP_MSG `exhaustAllowed`/`moreToCome`), as mongod serves them: a `getMore`
//! sent with `exhaustAllowed` whose cursor stays open is answered with `moreToCome` set, and
//! the server then runs the same `getMore` again on its own and sends each next batch without
//! a request, every reply answering the previous one (`responseTo` = its `requestID`), until
//! a reply with cursor id 0 (or an error, or an empty batch of a tailable cursor) ends the
//! stream without `moreToCome`. pymongo's `CursorType.EXHAUST` reads its batches this way.

use std::sync::Arc;

use bson::{Bson, Document};
use outpost_wire::{Compressor, Message, OpMsg, FLAG_EXHAUST_ALLOWED, FLAG_MORE_TO_COME};

use crate::connection::{compress_reply, encode_as, next_request_id, run_command, Closed};
use crate::state::{ConnInfo, State};

/// An exhaust stream between two replies: the `getMore` to run again, and how to answer.
pub(crate) struct Stream {
    /// The `getMore` command as the client sent it (with `$db`).
    body: Document,
    compressor: Option<Compressor>,
    /// The `requestID` of the reply just sent: the next reply answers it.
    reply_id: i32,
    pub(crate) cursor_id: i64,
}

/// The `getMore` of a request that allows an exhaust stream; `None` for any other request.
pub(crate) fn request(msg: &OpMsg) -> Option<Document> {
    let allowed = msg.flags & FLAG_EXHAUST_ALLOWED != 0;
    let is_get_more = msg.body.keys().next().is_some_and(|k| k == "getMore");
    (allowed && is_get_more).then(|| msg.body.clone())
}

/// Encodes `reply` (answering `response_to`, compressed with `compressor` when given); with
/// `moreToCome` and the stream to continue when `request` allows it and the cursor goes on.
pub(crate) fn encode_reply(
    state: &State,
    conn: &ConnInfo,
    reply: Document,
    response_to: i32,
    compressor: Option<Compressor>,
    request: Option<Document>,
) -> Result<(Vec<u8>, Option<Stream>), Closed> {
    let cursor_id = continuing_cursor(&reply);
    let more = request.zip(cursor_id);
    let reply_id = next_request_id();
    let flags = if more.is_some() { FLAG_MORE_TO_COME } else { 0 };
    let bytes = encode_as(
        reply_id,
        response_to,
        &Message::Msg(OpMsg {
            flags,
            body: reply,
            sequences: vec![],
        }),
    )?;
    let bytes = match compressor {
        Some(compressor) => compress_reply(state, conn, bytes, compressor),
        None => bytes,
    };
    let stream = more.map(|(body, cursor_id)| Stream {
        body,
        compressor,
        reply_id,
        cursor_id,
    });
    Ok((bytes, stream))
}

/// Runs the stream's `getMore` again: the next reply, and the stream when it goes on.
pub(crate) async fn next_reply(
    state: &Arc<State>,
    conn: &ConnInfo,
    stream: Stream,
) -> Result<(Vec<u8>, Option<Stream>), Closed> {
    let db = match stream.body.get("$db") {
        Some(Bson::String(db)) => db.clone(),
        _ => return Err(Closed::Protocol("exhaust getMore without $db".into())),
    };
    let reply = run_command(state, conn, db, stream.body.clone()).await?;
    encode_reply(
        state,
        conn,
        reply,
        stream.reply_id,
        stream.compressor,
        Some(stream.body),
    )
}

/// Closes the cursor of a stream the connection cannot continue (the client went away, or
/// the server is shutting down): nobody will read its batches.
pub(crate) fn abandon(state: &State, stream: Option<&Stream>) {
    if let Some(stream) = stream {
        state.cursors.remove(stream.cursor_id);
    }
}

/// The cursor id of a successful `getMore` reply whose cursor goes on with a non-empty
/// batch. A tailable cursor at the end of its collection answers an empty batch: the stream
/// stops there (the client asks again), rather than spinning.
fn continuing_cursor(reply: &Document) -> Option<i64> {
    let ok = match reply.get("ok") {
        Some(Bson::Double(v)) => *v == 1.0,
        Some(Bson::Int32(v)) => *v == 1,
        Some(Bson::Int64(v)) => *v == 1,
        _ => false,
    };
    if !ok {
        return None;
    }
    let cursor = reply.get_document("cursor").ok()?;
    let id = match cursor.get("id") {
        Some(Bson::Int64(id)) => *id,
        Some(Bson::Int32(id)) => i64::from(*id),
        _ => return None,
    };
    let has_docs = cursor
        .get_array("nextBatch")
        .is_ok_and(|batch| !batch.is_empty());
    (id != 0 && has_docs).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn only_an_open_cursor_with_documents_continues() {
        let reply = |id: i64, batch: Vec<Bson>| {
            doc! {"cursor": {"nextBatch": batch, "id": id, "ns": "db.c"}, "ok": 1.0}
        };
        assert_eq!(continuing_cursor(&reply(7, vec![Bson::Int32(1)])), Some(7));
        assert_eq!(continuing_cursor(&reply(0, vec![Bson::Int32(1)])), None);
        assert_eq!(continuing_cursor(&reply(7, vec![])), None);
        assert_eq!(
            continuing_cursor(&doc! {"ok": 0.0, "errmsg": "x", "code": 43}),
            None
        );
    }

    #[test]
    fn only_a_get_more_with_exhaust_allowed_streams() {
        let msg = |flags: u32, body: Document| OpMsg {
            flags,
            body,
            sequences: vec![],
        };
        let get_more = doc! {"getMore": 5_i64, "collection": "c", "$db": "db"};
        assert!(request(&msg(FLAG_EXHAUST_ALLOWED, get_more.clone())).is_some());
        assert!(request(&msg(0, get_more)).is_none());
        let find = doc! {"find": "c", "$db": "db"};
        assert!(request(&msg(FLAG_EXHAUST_ALLOWED, find)).is_none());
    }
}
