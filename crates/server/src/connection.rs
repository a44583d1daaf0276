//! One client connection: read a message, run it, write the reply, until the client leaves,
//! the stream breaks, or the server shuts down. A broken message closes only this connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Bson, Document};
use outpost_wire::{Message, OpMsg, OpReply, HEADER_LEN};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::cmd;
use crate::exhaust;
use crate::inline::Inline;
use crate::metrics::Metrics;
use crate::state::{ConnInfo, State};

/// Why a connection ended, for the log.
#[derive(Debug)]
pub(crate) enum Closed {
    ClientLeft,
    Shutdown,
    Io(std::io::Error),
    Protocol(String),
    /// A test fail point (`closeConnection`) asked for it.
    FailPoint,
    /// No message began within the idle deadline of a connection not yet trusted.
    IdleTimeout,
    /// A message began but was not complete within the message deadline.
    MessageTimeout,
}

/// How long a connection may wait for the first byte of its next message: bounded
/// (`idle_timeout_secs`) until the connection is trusted, unbounded afterwards (drivers keep
/// pooled connections idle for long). Today a connection is trusted once it has completed one
/// message; with authentication this is the hook to tie to "authenticated".
fn idle_limit(state: &State, trusted: bool) -> Option<Duration> {
    (!trusted).then(|| Duration::from_secs(state.config.idle_timeout_secs))
}

pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    id: i64,
    state: Arc<State>,
    tls: Option<crate::tls::Acceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    Metrics::add(&state.metrics.connections_current, 1);
    Metrics::add(&state.metrics.connections_total, 1);
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(state.local_addr);
    let conn = ConnInfo {
        id,
        peer,
        local,
        app_name: Default::default(),
        auth: Default::default(),
        compressors: Default::default(),
        sync: Default::default(),
    };
    tracing::info!(connection_id = id, remote = %peer, "connection accepted");
    let closed = match tls {
        None => serve_stream(stream, &conn, &state, shutdown).await,
        Some(acceptor) => match tokio::select! {
            negotiated = acceptor.negotiate(stream) => negotiated,
            _ = shutdown.changed() => Err(std::io::Error::other("the server is shutting down")),
        } {
            Ok(crate::tls::Stream::Plain(stream)) => {
                serve_stream(stream, &conn, &state, shutdown).await
            }
            Ok(crate::tls::Stream::Tls(stream)) => {
                serve_stream(stream, &conn, &state, shutdown).await
            }
            Err(e) => Closed::Protocol(format!("TLS negotiation failed: {e}")),
        },
    };
    state
        .metrics
        .connections_current
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    match closed {
        Closed::ClientLeft
        | Closed::Shutdown
        | Closed::FailPoint
        | Closed::IdleTimeout
        | Closed::MessageTimeout => {
            tracing::info!(connection_id = id, remote = %peer, reason = ?closed, "connection ended")
        }
        Closed::Io(e) => {
            tracing::info!(connection_id = id, remote = %peer, error = %e, "connection ended")
        }
        Closed::Protocol(reason) => {
            tracing::warn!(connection_id = id, remote = %peer, %reason, "closing connection after a protocol error")
        }
    }
}

/// Serves one connection's messages over a plain or TLS stream until it ends.
async fn serve_stream<S>(
    stream: S,
    conn: &ConnInfo,
    state: &Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) -> Closed
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (read_half, write_half) = tokio::io::split(stream);
    let mut reader = BufReader::new(read_half);
    let mut writer = BufWriter::new(write_half);
    let message_limit = Duration::from_secs(state.config.message_timeout_secs);
    let mut trusted = false;
    let closed = loop {
        let message = tokio::select! {
            m = read_message(&mut reader, idle_limit(state, trusted), message_limit) => m,
            _ = shutdown.changed() => break Closed::Shutdown,
        };
        let bytes = match message {
            Ok(Some(bytes)) => bytes,
            Ok(None) => break Closed::ClientLeft,
            Err(closed) => break closed,
        };
        trusted = true;
        Metrics::add(&state.metrics.network_requests, 1);
        Metrics::add_len(&state.metrics.network_bytes_in, bytes.len());
        // The request runs to completion even if shutdown starts meanwhile.
        let mut next = match handle(state, conn, bytes, shutdown.clone()).await {
            Ok(Handled { reply, exhaust }) => {
                if let Some(reply) = reply {
                    if let Err(e) = write_all(&mut writer, &reply).await {
                        exhaust::abandon(state, exhaust.as_ref());
                        break Closed::Io(e);
                    }
                    Metrics::add_len(&state.metrics.network_bytes_out, reply.len());
                }
                exhaust
            }
            Err(closed) => break closed,
        };
        // An exhaust cursor: its next batches follow without requests, until it is done.
        while let Some(stream) = next.take() {
            if *shutdown.borrow() {
                exhaust::abandon(state, Some(&stream));
                break;
            }
            let cursor = stream.cursor_id;
            let (reply, more) = match exhaust::next_reply(state, conn, stream).await {
                Ok(out) => out,
                Err(closed) => {
                    state.cursors.remove(cursor);
                    return closed;
                }
            };
            if let Err(e) = write_all(&mut writer, &reply).await {
                exhaust::abandon(state, more.as_ref());
                return Closed::Io(e);
            }
            Metrics::add_len(&state.metrics.network_bytes_out, reply.len());
            next = more;
        }
        if *shutdown.borrow() {
            break Closed::Shutdown;
        }
    };
    closed
}

async fn write_all<W: AsyncWrite + Unpin>(
    writer: &mut BufWriter<W>,
    bytes: &[u8],
) -> std::io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}

/// Reads one whole message (header included). `Ok(None)` on a clean end of stream between
/// messages. The first byte must arrive within `idle` (if bounded), the rest of the message
/// within `whole` of it. The header's length is checked before the body is buffered.
async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    idle: Option<Duration>,
    whole: Duration,
) -> Result<Option<Vec<u8>>, Closed> {
    let first_byte = reader.fill_buf();
    let available = match idle {
        Some(limit) => tokio::time::timeout(limit, first_byte)
            .await
            .map_err(|_| Closed::IdleTimeout)?,
        None => first_byte.await,
    };
    match available {
        Ok([]) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(Closed::Io(e)),
    }
    tokio::time::timeout(whole, read_rest(reader))
        .await
        .map_err(|_| Closed::MessageTimeout)?
        .map(Some)
}

/// Reads a message whose first byte is buffered.
async fn read_rest<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Result<Vec<u8>, Closed> {
    let mut header = [0u8; HEADER_LEN];
    reader
        .read_exact(&mut header)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                Closed::Protocol("stream ended inside a message header".into())
            }
            _ => Closed::Io(e),
        })?;
    let parsed =
        outpost_wire::parse_header(&header).map_err(|e| Closed::Protocol(e.to_string()))?;
    let total = usize::try_from(parsed.message_length)
        .map_err(|_| Closed::Protocol("negative message length".into()))?;
    let mut bytes = vec![0u8; total];
    bytes
        .get_mut(..HEADER_LEN)
        .ok_or_else(|| Closed::Protocol("message shorter than its header".into()))?
        .copy_from_slice(&header);
    let body = bytes.get_mut(HEADER_LEN..).unwrap_or_default();
    reader.read_exact(body).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            Closed::Protocol("stream ended inside a message body".into())
        }
        _ => Closed::Io(e),
    })?;
    Ok(bytes)
}

/// What one message makes the connection send.
pub(crate) struct Handled {
    /// The encoded reply, if the protocol calls for one.
    reply: Option<Vec<u8>>,
    /// An exhaust `getMore` whose reply said `moreToCome`: its next batch follows.
    exhaust: Option<exhaust::Stream>,
}

impl Handled {
    fn reply(reply: Vec<u8>) -> Handled {
        Handled {
            reply: Some(reply),
            exhaust: None,
        }
    }
}

/// Runs one message; returns the encoded reply, if the protocol calls for one. A request that
/// came in an OP_COMPRESSED is answered compressed the same way (as mongod does), except the
/// replies of [`NEVER_COMPRESSED`].
async fn handle(
    state: &Arc<State>,
    conn: &ConnInfo,
    bytes: Vec<u8>,
    shutdown: watch::Receiver<bool>,
) -> Result<Handled, Closed> {
    let header = outpost_wire::parse_header(&bytes).map_err(|e| Closed::Protocol(e.to_string()))?;
    let (message, compression) = match outpost_wire::decode_compressed(&bytes) {
        Ok((_, message, compression)) => (message, compression),
        Err(e) if e.is_framing() => return Err(Closed::Protocol(e.to_string())),
        Err(e) => {
            // The message was framed correctly but its contents are bad: answer with an error
            // in the form the client expects, and keep the connection. (Drivers compress only
            // OP_MSG: a bad OP_COMPRESSED gets an uncompressed OP_MSG answer.)
            tracing::warn!(connection_id = conn.id, error = %e, op_code = header.op_code, "malformed message");
            let reply = doc! {"ok": 0.0, "errmsg": format!("invalid message: {e}"), "code": 9, "codeName": "FailedToParse"};
            return match header.op_code {
                outpost_wire::OP_MSG | outpost_wire::OP_COMPRESSED => encode(
                    header.request_id,
                    &Message::Msg(OpMsg {
                        flags: 0,
                        body: reply,
                        sequences: vec![],
                    }),
                )
                .map(Handled::reply),
                outpost_wire::OP_QUERY => {
                    encode(header.request_id, &legacy_error(reply)).map(Handled::reply)
                }
                _ => Err(Closed::Protocol(e.to_string())),
            };
        }
    };
    if let Some(compression) = &compression {
        if let Some(counters) = state.metrics.compressor(compression.compressor) {
            Metrics::add_len(&counters.decompressor_bytes_in, compression.compressed_len);
            Metrics::add_len(
                &counters.decompressor_bytes_out,
                compression.uncompressed_len,
            );
        }
    }
    match message {
        Message::Msg(msg) => {
            let more_to_come = msg.flags & outpost_wire::FLAG_MORE_TO_COME != 0;
            let reply_compressor = compression
                .map(|c| c.compressor)
                .filter(|_| may_compress_reply(&msg.body));
            // The sync protocol's replies go to Outpost's own link, which reads either form:
            // they are compressed only when that makes them smaller (a small acknowledgement
            // would grow by about 10 bytes).
            let sync_reply = msg
                .body
                .keys()
                .next()
                .is_some_and(|name| cmd::is_sync_protocol(name));
            let exhaust_request = exhaust::request(&msg);
            await_topology_change(state, &msg.body, shutdown).await;
            let reply = run_op_msg(state, conn, msg).await?;
            if more_to_come {
                return Ok(Handled {
                    reply: None,
                    exhaust: None,
                });
            }
            let (reply, exhaust) = exhaust::encode_reply(
                state,
                conn,
                reply,
                header.request_id,
                reply_compressor.filter(|_| !sync_reply),
                exhaust_request,
            )?;
            let reply = match reply_compressor.filter(|_| sync_reply) {
                Some(compressor) => compressed(state, conn, reply, compressor, true),
                None => reply,
            };
            Ok(Handled {
                reply: Some(reply),
                exhaust,
            })
        }
        // OP_QUERY serves only the handshake, whose reply is never compressed.
        Message::Query(query) => {
            let reply = run_op_query(state, conn, query).await?;
            encode(header.request_id, &reply).map(Handled::reply)
        }
        Message::Reply(_) => Err(Closed::Protocol("clients may not send OP_REPLY".into())),
    }
}

/// The commands whose replies are never compressed (the compression specification's list,
/// plus the lowercase `ismaster`): the handshake and what carries credentials.
const NEVER_COMPRESSED: [&str; 12] = [
    "hello",
    "isMaster",
    "ismaster",
    "saslStart",
    "saslContinue",
    "getnonce",
    "authenticate",
    "createUser",
    "updateUser",
    "copydbSaslStart",
    "copydbgetnonce",
    "copydb",
];

fn may_compress_reply(body: &Document) -> bool {
    body.keys()
        .next()
        .is_none_or(|name| !NEVER_COMPRESSED.contains(&name.as_str()))
}

/// The reply compressed with `compressor`, counted; the reply as it is when compressing fails
/// or would pass the message size limit. As mongod does, a compressed request gets a reply
/// compressed the same way even when that does not make it smaller (a tiny reply).
pub(crate) fn compress_reply(
    state: &State,
    conn: &ConnInfo,
    reply: Vec<u8>,
    compressor: outpost_wire::Compressor,
) -> Vec<u8> {
    compressed(state, conn, reply, compressor, false)
}

/// The reply compressed with `compressor` and counted (when `only_if_smaller`, only if that
/// makes it smaller), else as it is.
fn compressed(
    state: &State,
    conn: &ConnInfo,
    reply: Vec<u8>,
    compressor: outpost_wire::Compressor,
    only_if_smaller: bool,
) -> Vec<u8> {
    match outpost_wire::compress(&reply, compressor) {
        Ok(Some(compressed)) if !only_if_smaller || compressed.len() < reply.len() => {
            if let Some(counters) = state.metrics.compressor(compressor) {
                let header = HEADER_LEN + outpost_wire::COMPRESSION_HEADER_LEN;
                Metrics::add_len(
                    &counters.compressor_bytes_in,
                    reply.len().saturating_sub(HEADER_LEN),
                );
                Metrics::add_len(
                    &counters.compressor_bytes_out,
                    compressed.len().saturating_sub(header),
                );
            }
            compressed
        }
        Ok(_) => reply,
        Err(e) => {
            tracing::warn!(connection_id = conn.id, error = %e, "cannot compress a reply; sending it uncompressed");
            reply
        }
    }
}

fn encode(response_to: i32, message: &Message) -> Result<Vec<u8>, Closed> {
    encode_as(next_request_id(), response_to, message)
}

/// Encodes a reply under a request id the caller chose.
pub(crate) fn encode_as(
    request_id: i32,
    response_to: i32,
    message: &Message,
) -> Result<Vec<u8>, Closed> {
    outpost_wire::encode(request_id, response_to, message)
        .map_err(|e| Closed::Protocol(format!("cannot encode reply: {e}")))
}

pub(crate) fn next_request_id() -> i32 {
    static NEXT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Runs a command on the blocking pool (storage calls block on disk), or on this task when
/// it is small and bounded (`inline.rs`).
pub(crate) async fn run_command(
    state: &Arc<State>,
    conn: &ConnInfo,
    db: String,
    body: Document,
) -> Result<Document, Closed> {
    let body = match crate::inline::runs_inline(state, &db, &body) {
        Inline::Yes => return reply_of(cmd::dispatch(state, conn, &db, body)),
        Inline::UnlessWriterBusy => {
            let _turn = state.inline_writes.lock().await;
            let storage = state.storage.without_waiting();
            match cmd::dispatch_on(state, &storage, conn, &db, body) {
                cmd::Reply::WriterBusy(body) => body,
                reply => return reply_of(reply),
            }
        }
        Inline::No => body,
    };
    let state = state.clone();
    let conn = conn.clone();
    let pool = state.clone();
    let reply = pool
        .commands
        .run(move || cmd::dispatch(&state, &conn, &db, body))
        .await
        .map_err(|e| Closed::Protocol(format!("command task failed: {e}")))?;
    reply_of(reply)
}

/// The reply to send for a command's outcome.
fn reply_of(reply: cmd::Reply) -> Result<Document, Closed> {
    match reply {
        cmd::Reply::Document(doc) => Ok(doc),
        cmd::Reply::CloseConnection => Err(Closed::FailPoint),
        // Only a store that does not wait gives this (the pool's store waits): never sent.
        cmd::Reply::WriterBusy(_) => {
            Ok(crate::error::Error::from(outpost_storage::Error::WriterBusy).to_reply())
        }
    }
}

async fn run_op_msg(state: &Arc<State>, conn: &ConnInfo, msg: OpMsg) -> Result<Document, Closed> {
    let mut body = msg.body;
    let db = match body.get("$db") {
        Some(Bson::String(db)) => db.clone(),
        _ => {
            return Ok(
                doc! {"ok": 0.0, "errmsg": "OP_MSG requests require a $db argument", "code": 40571, "codeName": "Location40571"},
            );
        }
    };
    for sequence in msg.sequences {
        if body.contains_key(&sequence.identifier) {
            return Ok(doc! {
                "ok": 0.0,
                "errmsg": format!("Duplicate field name in OP_MSG: '{}' appears in the body and in a document sequence", sequence.identifier),
                "code": 40413, "codeName": "Location40413",
            });
        }
        body.insert(
            sequence.identifier,
            Bson::Array(sequence.documents.into_iter().map(Bson::Document).collect()),
        );
    }
    run_command(state, conn, db, body).await
}

/// Drivers monitor a server with "awaitable" `hello`s: they send the `topologyVersion` they
/// know and `maxAwaitTimeMS`, and the server answers when the topology changes or the time is
/// up. A standalone Outpost's topology never changes, so the answer waits the full time (or
/// until shutdown); answering at once would make drivers ask again at once, in a tight loop.
async fn await_topology_change(
    state: &State,
    body: &Document,
    mut shutdown: watch::Receiver<bool>,
) {
    let is_hello = body
        .keys()
        .next()
        .is_some_and(|name| ["hello", "isMaster", "ismaster"].contains(&name.as_str()));
    if !is_hello {
        return;
    }
    let Ok(known) = body.get_document("topologyVersion") else {
        return;
    };
    let same_process =
        matches!(known.get("processId"), Some(Bson::ObjectId(id)) if *id == state.process_id);
    if !same_process {
        return;
    }
    let wait_ms = match body.get("maxAwaitTimeMS") {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        _ => return,
    };
    let wait = Duration::from_millis(u64::try_from(wait_ms.clamp(0, 10 * 60 * 1000)).unwrap_or(0));
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = shutdown.changed() => {}
    }
}

/// OP_QUERY is accepted only for the handshake (`hello`/`isMaster` on `<db>.$cmd`), as in
/// MongoDB 5.1 and later.
async fn run_op_query(
    state: &Arc<State>,
    conn: &ConnInfo,
    query: outpost_wire::OpQuery,
) -> Result<Message, Closed> {
    let Some(db) = query.full_collection_name.strip_suffix(".$cmd") else {
        return Ok(legacy_error(
            doc! {"ok": 0.0, "errmsg": "OP_QUERY is no longer supported for queries; use the find command", "code": 5739101, "codeName": "Location5739101"},
        ));
    };
    // Drivers may wrap the command as {$query: {...}, $readPreference: ...}.
    let command = match query.query.get_document("$query") {
        Ok(inner) => inner.clone(),
        Err(_) => query.query.clone(),
    };
    let name = command.keys().next().cloned().unwrap_or_default();
    if !["hello", "isMaster", "ismaster"].contains(&name.as_str()) {
        return Ok(legacy_error(doc! {
            "ok": 0.0,
            "errmsg": format!("Unsupported OP_QUERY command: {name}. The client driver may require an upgrade."),
            "code": 352, "codeName": "UnsupportedOpQueryCommand",
        }));
    }
    let reply = run_command(state, conn, db.to_owned(), command).await?;
    Ok(Message::Reply(OpReply {
        response_flags: 0,
        cursor_id: 0,
        starting_from: 0,
        documents: vec![reply],
    }))
}

/// An OP_REPLY carrying an error document (`QueryFailure` flag set, with `$err`).
fn legacy_error(mut reply: Document) -> Message {
    if let Some(Bson::String(msg)) = reply.get("errmsg").cloned() {
        reply.insert("$err", msg);
    }
    Message::Reply(OpReply {
        response_flags: 2,
        cursor_id: 0,
        starting_from: 0,
        documents: vec![reply],
    })
}
