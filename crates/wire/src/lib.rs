//! The MongoDB wire protocol: bytes to [`Message`]s and back.
//!
//! This crate knows nothing of sockets, tasks, storage or command semantics. Its invariant:
//! any byte sequence decodes to a message or an [`Error`], never a panic, and never an
//! allocation larger than the declared limits ([`MAX_MESSAGE_SIZE`], [`MAX_DOCUMENT_SIZE`]).
//!
//! Modules:
//! - `header`: the 16-byte header ([`parse_header`]) and message boundaries in a stream buffer
//!   ([`check`]).
//! - `codec`: whole messages, [`decode`] and [`encode`], dispatching to
//! - `op_msg` (OP_MSG: flagBits, kind 0 and kind 1 sections, CRC-32C checksum), `op_query`
//!   (OP_QUERY, for the legacy handshake) and `op_reply` (OP_REPLY, its answer);
//! - `compress`: OP_COMPRESSED ([`compress`], and decompression inside [`decode`]) with
//!   zstd, zlib or noop, bounded by [`MAX_MESSAGE_SIZE`] before decompressing;
//! - `reader` and `writer`: bounds-checked reading and size-checked writing of fields and BSON
//!   documents;
//! - `error`: the one [`Error`] type, with [`Error::is_framing`] telling the server whether to
//!   close the connection.
//!
//! Reading a connection, mini-redis style: buffer bytes until [`check`] returns
//! `Some(length)`, then [`decode`] the first `length` bytes. A framing error closes the
//! connection; any other error is answered to the header's requestID.
//!
//! ```
//! use bson::doc;
//! use outpost_wire::{check, decode, encode, Message, OpMsg};
//!
//! let hello = Message::Msg(OpMsg { body: doc! { "hello": 1, "$db": "admin" }, ..OpMsg::default() });
//! let mut buffer = encode(1, 0, &hello).unwrap();
//! buffer.extend_from_slice(&[0x34, 0x00]); // the start of the next message
//!
//! let length = check(&buffer).unwrap().expect("a whole message is buffered");
//! let (header, message) = decode(&buffer[..length]).unwrap();
//! assert_eq!((header.request_id, message), (1, hello));
//! assert_eq!(check(&buffer[length..]), Ok(None)); // more bytes needed
//! ```

#![deny(missing_docs)]

use bson::Document;

mod codec;
mod compress;
mod error;
mod header;
mod op_msg;
mod op_query;
mod op_reply;
mod reader;
mod writer;

#[cfg(test)]
mod compress_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use codec::{decode, decode_compressed, encode};
pub use compress::{compress, Compression, Compressor, COMPRESSION_HEADER_LEN};
pub use error::{Error, Result};
pub use header::{check, minimum_message_length, parse_header};

/// Largest message accepted or produced, header included (MongoDB's `maxMessageSizeBytes`).
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;
/// Largest user document (MongoDB's `maxBsonObjectSize`).
pub const MAX_BSON_OBJECT_SIZE: usize = 16 * 1024 * 1024;
/// Largest document accepted on the wire: a command body may exceed a user document by 16 KiB
/// (MongoDB's `BSONObjMaxInternalSize`), so an insert of a 16 MiB document still fits.
pub const MAX_DOCUMENT_SIZE: usize = MAX_BSON_OBJECT_SIZE + 16 * 1024;
/// Size of the standard message header.
pub const HEADER_LEN: usize = 16;
/// Deepest nesting of documents and arrays accepted inside a document (MongoDB's default
/// `maxBSONDepth`). Checked before parsing because the BSON parser recurses once per level.
pub const MAX_BSON_DEPTH: usize = 200;

/// Op code of OP_REPLY, the answer to an OP_QUERY.
pub const OP_REPLY: i32 = 1;
/// Op code of OP_QUERY; drivers still send the first handshake this way.
pub const OP_QUERY: i32 = 2004;
/// Op code of OP_COMPRESSED: another message, compressed (zstd, zlib or noop).
pub const OP_COMPRESSED: i32 = 2012;
/// Op code of OP_MSG, the message of every command since MongoDB 3.6.
pub const OP_MSG: i32 = 2013;

/// OP_MSG flag bit 0: a CRC-32C of the message follows the last section.
pub const FLAG_CHECKSUM_PRESENT: u32 = 1;
/// OP_MSG flag bit 1: the sender will send another message without waiting for an answer
/// (on a request: no reply is expected).
pub const FLAG_MORE_TO_COME: u32 = 1 << 1;
/// OP_MSG flag bit 16 (optional): the client accepts replies with moreToCome (exhaust cursors).
pub const FLAG_EXHAUST_ALLOWED: u32 = 1 << 16;

/// The name of an op code for log lines and errors, including the legacy ones removed in
/// MongoDB 6.0 that this crate refuses.
pub fn op_code_name(op_code: i32) -> &'static str {
    match op_code {
        OP_REPLY => "OP_REPLY",
        2001 => "OP_UPDATE, removed in MongoDB 6.0",
        2002 => "OP_INSERT, removed in MongoDB 6.0",
        2004 => "OP_QUERY",
        2005 => "OP_GET_MORE, removed in MongoDB 6.0",
        2006 => "OP_DELETE, removed in MongoDB 6.0",
        2007 => "OP_KILL_CURSORS, removed in MongoDB 6.0",
        OP_COMPRESSED => "OP_COMPRESSED",
        OP_MSG => "OP_MSG",
        _ => "unknown",
    }
}

/// The standard message header, four little-endian int32s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total message size in bytes, header included.
    pub message_length: i32,
    /// The sender's identifier for this message.
    pub request_id: i32,
    /// The requestID this message answers (0 on requests).
    pub response_to: i32,
    /// Which kind of message follows.
    pub op_code: i32,
}

/// A decoded message, one variant per supported op code.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// OP_MSG.
    Msg(OpMsg),
    /// OP_QUERY.
    Query(OpQuery),
    /// OP_REPLY.
    Reply(OpReply),
}

/// An OP_MSG: a command (or its reply) as a body document plus optional document sequences.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpMsg {
    /// flagBits ([`FLAG_CHECKSUM_PRESENT`], [`FLAG_MORE_TO_COME`], [`FLAG_EXHAUST_ALLOWED`]).
    pub flags: u32,
    /// The kind 0 section.
    pub body: Document,
    /// Kind 1 sections, in message order.
    pub sequences: Vec<DocumentSequence>,
}

/// An OP_MSG kind 1 section: documents that belong in the body's array field `identifier`
/// (for example `documents` of an insert), sent outside the body to avoid one huge document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSequence {
    /// The body field the documents belong to.
    pub identifier: String,
    /// The documents, in order.
    pub documents: Vec<Document>,
}

/// A legacy OP_QUERY; drivers send the first `isMaster`/`hello` to `admin.$cmd` this way.
#[derive(Debug, Clone, PartialEq)]
pub struct OpQuery {
    /// Query flags (tailable, secondaryOk, ...), kept as sent.
    pub flags: u32,
    /// `<database>.<collection>`, `<database>.$cmd` for a command.
    pub full_collection_name: String,
    /// Documents to skip.
    pub number_to_skip: i32,
    /// Documents to return (-1 for a command: one batch, close the cursor).
    pub number_to_return: i32,
    /// The query, or the command document.
    pub query: Document,
    /// The optional projection.
    pub return_fields_selector: Option<Document>,
}

/// A legacy OP_REPLY, the answer to an OP_QUERY. numberReturned on the wire is
/// `documents.len()`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpReply {
    /// Response flags (cursorNotFound, queryFailure, awaitCapable, ...).
    pub response_flags: u32,
    /// The cursor id, 0 when no cursor remains open.
    pub cursor_id: i64,
    /// Position of the first document in the cursor.
    pub starting_from: i32,
    /// The returned documents.
    pub documents: Vec<Document>,
}
