//! The MongoDB wire protocol: bytes to [`Message`]s and back.
//!
//! This crate knows nothing of sockets, tasks, storage or command semantics. Its invariant:
//! any byte sequence decodes to a message or an [`Error`], never a panic, and never an
//! allocation larger than the declared limits ([`MAX_MESSAGE_SIZE`], [`MAX_DOCUMENT_SIZE`]).

use bson::Document;

/// Largest message accepted or produced, header included (MongoDB's `maxMessageSizeBytes`).
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;
/// Largest user document (MongoDB's `maxBsonObjectSize`).
pub const MAX_BSON_OBJECT_SIZE: usize = 16 * 1024 * 1024;
/// Largest document accepted on the wire: a command body may exceed a user document by 16 KiB
/// (MongoDB's `BSONObjMaxInternalSize`), so an insert of a 16 MiB document still fits.
pub const MAX_DOCUMENT_SIZE: usize = MAX_BSON_OBJECT_SIZE + 16 * 1024;
/// Size of the standard message header.
pub const HEADER_LEN: usize = 16;

pub const OP_REPLY: i32 = 1;
pub const OP_QUERY: i32 = 2004;
pub const OP_COMPRESSED: i32 = 2012;
pub const OP_MSG: i32 = 2013;

/// OP_MSG flag bits.
pub const FLAG_CHECKSUM_PRESENT: u32 = 1;
pub const FLAG_MORE_TO_COME: u32 = 1 << 1;
pub const FLAG_EXHAUST_ALLOWED: u32 = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub message_length: i32,
    pub request_id: i32,
    pub response_to: i32,
    pub op_code: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Msg(OpMsg),
    Query(OpQuery),
    Reply(OpReply),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpMsg {
    pub flags: u32,
    /// The kind 0 section.
    pub body: Document,
    /// Kind 1 sections, in message order.
    pub sequences: Vec<DocumentSequence>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSequence {
    pub identifier: String,
    pub documents: Vec<Document>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpQuery {
    pub flags: u32,
    pub full_collection_name: String,
    pub number_to_skip: i32,
    pub number_to_return: i32,
    pub query: Document,
    pub return_fields_selector: Option<Document>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpReply {
    pub response_flags: u32,
    pub cursor_id: i64,
    pub starting_from: i32,
    pub documents: Vec<Document>,
}
